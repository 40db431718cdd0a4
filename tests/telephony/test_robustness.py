"""Refusals, CANCEL, the per-process call limit, drain on SIGTERM, and leaks over many calls."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.telephony.peers import scenario, sipp, sipp_errors, start_worker

pytestmark = [pytest.mark.sip, pytest.mark.timeout(180)]

GOOD_SDP = """      v=0
      o=user1 1 1 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio 9 RTP/AVP 8
      a=rtpmap:8 PCMA/8000"""

G729_ONLY_SDP = GOOD_SDP.replace("RTP/AVP 8", "RTP/AVP 18").replace(
    "a=rtpmap:8 PCMA/8000", "a=rtpmap:18 G729/8000"
)

MALFORMED_SDP = """      v=0
      this is = not an SDP body
      m=audio notaport RTP/AVP"""


def _assert_clean(worker) -> None:
    assert worker.terminate() == 0
    stderr = worker.stderr()
    assert "Assertion" not in stderr and "Segmentation" not in stderr, stderr[-2000:]


@pytest.mark.parametrize(
    ("worker_args", "sdp", "status"),
    [
        (("--allow-net", "10.0.0.0/8"), GOOD_SDP, 403),
        (("--accept", "2000"), GOOD_SDP, 404),
        ((), G729_ONLY_SDP, 488),
        ((), MALFORMED_SDP, 400),
    ],
    ids=["source-not-allowed", "unknown-number", "unknown-codec", "malformed-sdp"],
)
def test_bad_calls_get_a_clean_refusal(tmp_path, worker_args, sdp, status):
    worker = start_worker(tmp_path, "tests.telephony.handlers:hold_line", *worker_args)
    try:
        refused = scenario(tmp_path, "refused.xml", SDP=sdp, STATUS=status)
        run = sipp(worker.port, refused, timeout=15)
        assert run.returncode == 0, sipp_errors(refused)
        time.sleep(0.3)
        assert worker.process.poll() is None  # still serving
        assert worker.records() == []  # no handler ever ran
    finally:
        _assert_clean(worker)


def test_cancel_before_answer(tmp_path):
    worker = start_worker(tmp_path, "tests.telephony.handlers:menu", "--ring-seconds", "3")
    try:
        cancel = scenario(tmp_path, "cancel.xml", RTP_SINK_PORT=9)
        run = sipp(worker.port, cancel, timeout=15)
        assert run.returncode == 0, sipp_errors(cancel)
        time.sleep(3.5)  # past the moment the engine would have answered
        assert worker.records() == []
    finally:
        _assert_clean(worker)


def test_four_calls_per_worker_and_the_fifth_is_refused_busy(tmp_path):
    worker = start_worker(tmp_path, "tests.telephony.handlers:hold_line")
    try:
        four = scenario(tmp_path, "caller_hangup.xml", RTP_SINK_PORT=9, PAUSE_MS=4000)
        held = sipp(worker.port, four, calls=4, concurrent=4, rate=20, background=True)
        time.sleep(1.5)
        busy = scenario(tmp_path, "refused.xml", SDP=GOOD_SDP, STATUS=486)
        fifth = sipp(worker.port, busy, timeout=10)
        assert fifth.returncode == 0, sipp_errors(busy)
        held.communicate(timeout=30)
        assert held.returncode == 0, sipp_errors(four)
        records = worker.wait_records(4)
        assert [r["end_reason"] for r in records] == ["caller hung up"] * 4
    finally:
        _assert_clean(worker)


def test_sigterm_drains_refuses_new_calls_and_exits_cleanly_with_calls_up(tmp_path):
    worker = start_worker(tmp_path, "tests.telephony.handlers:hold_line", "--drain-seconds", "2")
    try:
        waiting = scenario(tmp_path, "caller_waits_bye.xml", RTP_SINK_PORT=9,
                           BYE_TIMEOUT_MS=20000)
        up = sipp(worker.port, waiting, calls=2, concurrent=2, rate=20, background=True)
        time.sleep(1.5)
        worker.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        refused = scenario(tmp_path, "refused.xml", SDP=GOOD_SDP, STATUS=503)
        late = sipp(worker.port, refused, timeout=10)
        assert late.returncode == 0, sipp_errors(refused)
        started = time.monotonic()
        assert worker.process.wait(20) == 0
        assert time.monotonic() - started < 10
        up.communicate(timeout=20)
        assert up.returncode == 0, sipp_errors(waiting)  # both callers got the engine's BYE
        records = worker.wait_records(2, timeout=1)
        assert [r["end_reason"] for r in records] == ["engine shutdown"] * 2
    finally:
        _assert_clean(worker)


def test_a_hundred_calls_in_a_row_leave_memory_and_file_handles_flat(tmp_path):
    worker = start_worker(tmp_path, "tests.telephony.handlers:record_until_hangup")
    try:
        short = scenario(tmp_path, "caller_hangup.xml", RTP_SINK_PORT=9, PAUSE_MS=300)
        warm = sipp(worker.port, short, calls=20, concurrent=3, rate=15, timeout=60)
        assert warm.returncode == 0, sipp_errors(short)
        time.sleep(2.5)  # retired audio ports are deleted after 2 s
        rss_before, fds_before = worker.rss_kb(), worker.open_fds()
        run = sipp(worker.port, short, calls=100, concurrent=3, rate=15, timeout=90)
        assert run.returncode == 0, sipp_errors(short)
        time.sleep(2.5)
        rss_after, fds_after = worker.rss_kb(), worker.open_fds()
        records = worker.wait_records(120)
        assert len(records) == 120
        assert all(r["rec_closed"] for r in records)
    finally:
        _assert_clean(worker)
    print(f"rss {rss_before} -> {rss_after} kB, fds {fds_before} -> {fds_after}")
    assert fds_after <= fds_before + 2, (fds_before, fds_after)
    assert rss_after - rss_before < 6 * 1024, (rss_before, rss_after)


def test_a_worker_without_a_handler_refuses_to_start_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "telephony.worker", "--port", "5999"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--handler module:factory is required" in lines[0], done.stderr
