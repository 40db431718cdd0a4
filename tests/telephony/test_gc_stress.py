"""Many short calls in one worker with the garbage collector running at every chance.

Regression test for the segfault under load: ports deleted while pjmedia's clock thread
still called them left a dying Python object behind (``'CallAudioPort' object has no
attribute 'tap'``), which a later collection tripped over. ``TELESEC_GC_STRESS=1`` makes
the worker collect at nearly every allocation, on every thread; before the fix the
worker died (exit -11) within about 30 to 50 calls like these (1 s each, 4 at once).
"""

from __future__ import annotations

import re

import pytest

from tests.telephony.peers import scenario, sipp, sipp_errors, start_worker

pytestmark = [pytest.mark.sip, pytest.mark.timeout(180)]

CALLS = 150


def test_many_short_calls_under_gc_stress_exit_cleanly(tmp_path):
    worker = start_worker(tmp_path, "tests.telephony.handlers:hold_line",
                          env={"TELESEC_GC_STRESS": "1"})
    try:
        short = scenario(tmp_path, "caller_hangup.xml", RTP_SINK_PORT=9, PAUSE_MS=1000)
        run = sipp(worker.port, short, calls=CALLS, concurrent=4, rate=8, timeout=75)
        crashed = worker.process.poll()
        assert crashed is None, f"worker died with {crashed}\n{worker.stderr()[-3000:]}"
        assert run.returncode == 0, sipp_errors(short)
        failed = re.search(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", run.stdout)
        assert failed is not None and failed.group(1) == "0", run.stdout[-2000:]
        # Collecting at every allocation makes each handler's last steps slow (seconds on
        # a busy machine): the records are awaited, never assumed to be written already.
        records = worker.wait_records(CALLS, timeout=60.0)
        assert len(records) == CALLS, missing_calls(records, worker.stderr())
        assert {r["end_reason"] for r in records} == {"caller hung up"}
    finally:
        code = worker.terminate()
    stderr = worker.stderr()
    assert code == 0, stderr[-3000:]
    for symptom in ("Segmentation", "Fatal Python error", "Traceback", "Assertion",
                    "handler failed"):
        assert symptom not in stderr, stderr[-3000:]


def missing_calls(records: list[dict], stderr: str) -> str:
    """Which of sipp's calls (``N-pid@host``) wrote no record, and what the worker said."""
    seen = {int(r["call_id"].split("-", 1)[0]) for r in records}
    missing = sorted(set(range(1, CALLS + 1)) - seen)
    said = [line for line in stderr.splitlines()
            if any(f" {n}-" in line or f"call {n}-" in line for n in missing)]
    return f"no record for calls {missing}; worker lines about them:\n" + "\n".join(said[-40:])
