"""The media clock's Python thread state is kept while calls are up and given back after."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.telephony.peers import REPO


def test_the_clock_threads_state_is_kept_during_calls_and_not_left_behind():
    run = subprocess.run([sys.executable, "-m", "tests.telephony.clock_pin_probe"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    rounds = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(rounds) == 2, run.stderr[-2000:]
    for r in rounds:
        assert r["pinned_during"] and r["during"] == 2  # the main thread's and the clock's
        assert not r["pinned_after"] and r["after"] == 1  # none left with the closed clock
        assert r["errors"] == 0
