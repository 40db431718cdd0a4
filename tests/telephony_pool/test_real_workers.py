"""The whole pool with real pjsua2 workers (telephony/worker.py) behind Kamailio, sipp callers."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from foundation.processes import processes_where
from foundation.settings import load_settings
from telephony.kamailio import sip_ping
from telephony.pool_settings import PoolTuning
from telephony.supervisor import Supervisor

from .conftest import (
    children_of,
    finish_sipp,
    relay_media,
    run_sipp,
    sipp_args,
    start_sipp,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)

HANDLER = "tests.telephony.handlers:hold_line"
TUNING = PoolTuning(probe_interval_s=1, worker_answer_timeout_ms=1000, kamailio_children=2,
                    restart_backoff_min_s=4, drain_deadline_s=2, ready_timeout_s=40)
ROUTED = re.compile(r"call-id (\S+) to worker sip:127\.0\.0\.1:(\d+)")


def _final_worker_of_each_call(log_text: str, sipp_pid: int) -> dict[str, int]:
    """Call-ID -> port of the last worker Kamailio sent it to (the one that answered)."""
    final: dict[str, int] = {}
    for call_id, port in ROUTED.findall(log_text):
        if f"-{sipp_pid}@" in call_id:
            final[call_id] = int(port)
    return final


def _pool_logging_routes(tmp_path: Path, port_base: int, workers: int,
                         caplog: pytest.LogCaptureFixture) -> Supervisor:
    """A pool of real workers whose Kamailio logs its routing lines (at DEBUG) into caplog."""
    caplog.set_level(logging.INFO, logger="telephony.supervisor")
    # last: set_level also sets the capture's own level
    caplog.set_level(logging.DEBUG, logger="telesec.kamailio")
    settings = load_settings(
        data_dir=tmp_path / "data", log_level="DEBUG",  # Kamailio writes them at DEBUG only
        sip={"listen_host": "127.0.0.1", "listen_port": port_base,
             "worker_base_port": port_base + 1, "workers": workers, "media": relay_media()},
    )
    return Supervisor(settings, HANDLER, tuning=TUNING)


def test_two_real_workers_hold_eight_calls_refuse_the_ninth_and_survive_a_kill(
    tmp_path: Path, port_base: int, caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = _pool_logging_routes(tmp_path, port_base, 2, caplog)
    try:
        supervisor.start()
        first, second = (w.port for w in supervisor.status().workers)
        target = f"127.0.0.1:{port_base}"

        # 2 workers x 4 calls: eight calls held at once, the 9th and 10th refused cleanly
        holders = start_sipp(sipp_args("caller_hold.xml", target, port_base + 20, 8,
                                       rate=20, hold_ms=5000), tmp_path)
        routed = lambda: len(_final_worker_of_each_call(caplog.text, holders.pid))  # noqa: E731
        assert wait_until(lambda: routed() >= 8, 10)
        time.sleep(0.5)
        refused = run_sipp("caller_refused.xml", target, port_base + 21, 2, tmp_path, rate=10)
        assert (refused.returncode, refused.successful, refused.failed) == (0, 2, 0)
        held = finish_sipp(holders, tmp_path, port_base + 20)
        assert (held.returncode, held.successful, held.failed) == (0, 8, 0)
        spread = _final_worker_of_each_call(caplog.text, holders.pid)
        assert sorted(spread.values()).count(first) == 4 and len(spread) == 8

        # kill one worker: new calls go to the other one (the supervisor waits 4 s to restart)
        victim = supervisor.status().workers[1]
        assert victim.pid is not None
        os.kill(victim.pid, 9)
        after_kill = start_sipp(sipp_args("caller_hold.xml", target, port_base + 22, 4,
                                          rate=10, hold_ms=200), tmp_path)
        result = finish_sipp(after_kill, tmp_path, port_base + 22)
        assert (result.successful, result.failed) == (4, 0)
        assert set(_final_worker_of_each_call(caplog.text, after_kill.pid).values()) == {first}

        # it comes back and takes calls again
        assert wait_until(lambda: supervisor.status().workers[1].ready, 20)
        assert supervisor.status().workers[1].restarts == 1

        def second_used_again() -> bool:
            probe = start_sipp(sipp_args("caller_hold.xml", target, port_base + 23, 2,
                                         rate=10, hold_ms=100), tmp_path)
            finish_sipp(probe, tmp_path, port_base + 23)
            return second in _final_worker_of_each_call(caplog.text, probe.pid).values()

        assert wait_until(second_used_again, 10, step=0.5)
    finally:
        supervisor.stop(deadline=5)
    assert children_of(os.getpid()) == []


def test_stop_drains_live_calls_then_leaves_nothing_behind(
    tmp_path: Path, port_base: int, caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = _pool_logging_routes(tmp_path, port_base, 1, caplog)
    supervisor.start()
    callers = start_sipp(sipp_args("caller_hold.xml", f"127.0.0.1:{port_base}", port_base + 20,
                                   2, rate=20, hold_ms=30000, timeout_s=20), tmp_path)
    try:
        assert wait_until(lambda: caplog.text.count("to worker sip:") >= 2, 10)
        time.sleep(0.5)
        memory = supervisor.memory_pss_kb()
        status = supervisor.status()
        assert {status.workers[0].pid, status.front_pid} <= set(memory)
        assert len(memory) >= 3 and all(size > 0 for size in memory.values())
        started = time.monotonic()
        supervisor.stop(deadline=8)
        stopped_in = time.monotonic() - started
    finally:
        supervisor.stop(deadline=1)
        callers.kill()
        callers.wait()
    # the worker hung up its calls after its 2 s drain and exited by itself: no SIGKILL
    assert stopped_in < 8
    assert "killing them" not in caplog.text
    assert children_of(os.getpid()) == []


RUN_FOREVER = """
import logging, sys
from telephony.kamailio import sip_ping
from telephony.pool_settings import PoolTuning
from telephony.supervisor import Supervisor
from foundation.settings import load_settings
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
base = int(sys.argv[1])
rtp_first, rtp_last = int(sys.argv[4]), int(sys.argv[5])
settings = load_settings(data_dir=sys.argv[2], sip={
    "listen_host": "127.0.0.1", "listen_port": base, "worker_base_port": base + 1, "workers": 2,
    "media": {"port_min": rtp_first, "port_max": rtp_last}})
Supervisor(settings, sys.argv[3], tuning=PoolTuning(probe_interval_s=1, drain_deadline_s=2,
           kamailio_children=2)).run_forever()
"""


def test_sigterm_to_run_forever_drains_and_exits_cleanly(tmp_path: Path, port_base: int) -> None:
    media = relay_media()
    pool = subprocess.Popen([sys.executable, "-c", RUN_FOREVER, str(port_base),
                             str(tmp_path / "data"), HANDLER,
                             str(media["port_min"]), str(media["port_max"])],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: sip_ping("127.0.0.1", port_base, 0.2) == 200, 40)
        # two workers and Kamailio (with its own children), as /proc lists them by now
        assert wait_until(lambda: len(children_of(pool.pid)) >= 3, 10), command_lines(pool.pid)
        family = children_of(pool.pid)
        result = run_sipp("caller_hold.xml", f"127.0.0.1:{port_base}", port_base + 20, 2, tmp_path)
        assert result.successful == 2
        pool.send_signal(signal.SIGTERM)
        _, errors = pool.communicate(timeout=20)
    finally:
        if pool.poll() is None:
            pool.kill()
            pool.wait()
    assert pool.returncode == 0, errors[-2000:]
    assert "pool stopped" in errors
    assert not any(Path(f"/proc/{pid}").exists() for pid in family)


def command_lines(pid: int) -> str:
    """What ``pid`` and its descendants are, for a failure message."""
    family = {pid, *children_of(pid)}
    live = processes_where(lambda _command, _environ: True)
    return "\n".join(f"{one}: {live.get(one, 'gone')[:200]}" for one in sorted(family))
