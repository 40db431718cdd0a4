"""Smoke test of bench/sip_load.py: a short real run (Kamailio, 2 pjsua2 workers, sipp).

Checks that it prints its table and RESULT line, that the calls really went through the
menu, and that it leaves no process behind, also when interrupted.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "sip_load.py"

pytestmark = [pytest.mark.sip, pytest.mark.slow]


def _leftovers() -> list[str]:
    """Command lines of live processes started for the benchmark's pool or callers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and ("sip_load_handler" in cmdline or "sip_load-" in cmdline):
            found.append(cmdline)
    return found


@pytest.mark.timeout(150)
def test_quick_run_prints_its_figures_and_exits_cleanly():
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick"], cwd=REPO,
                         capture_output=True, text=True, timeout=140)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert "recording sink: encrypted vault" in out
    lines = out.splitlines()
    header = next(line.split() for line in lines if line.startswith("calls "))
    rows = {}
    for line in lines:
        cells = line.split()
        if len(cells) == len(header) and cells[0].isdigit():
            rows[int(cells[0])] = dict(zip(header, cells, strict=True))
    assert set(rows) == {4, 8}, out
    row = rows[4]
    assert (int(row["ok"]), int(row["fail"])) == (4, 0), out
    assert float(row["CPU%"]) > 0 and float(row["%/call"]) > 0 and float(row["MB"]) > 0
    # the key really led to the next prompt, heard by the caller
    assert 0 < float(row["k2p50"]) <= float(row["k2p95"]) < 2000
    result = re.search(r"^RESULT max_clean_concurrent_calls=(\d+) "
                       r"max_calls_without_lost_audio=(\d+) .*cpu_per_call=([\d.]+)%core .*"
                       r"mb_per_call=([\d.]+) .*key_to_prompt_p50=(\d+)ms p95=(\d+)ms",
                       out, re.M)
    assert result, out
    assert _leftovers() == []


@pytest.mark.timeout(90)
def test_interrupted_run_leaves_nothing_behind():
    process = subprocess.Popen([sys.executable, str(SCRIPT), "--quick"], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and not line.startswith("calls "):
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else ""
        time.sleep(2)  # calls of the first level are up
        assert _leftovers(), "the pool should be running"
        os.kill(process.pid, signal.SIGINT)
        assert process.wait(30) == 130
        assert "interrupted" in (process.stderr.read() if process.stderr else "")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert _leftovers() == []
