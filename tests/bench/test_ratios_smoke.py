"""Smoke test of bench/ratios.py: a short real run (bare pjsua2 vs a Telesec worker under
sipp, bare Vosk vs the speech engine and server) that must print both ratios as numbers
and leave no process behind, also when interrupted."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "ratios.py"

pytestmark = [pytest.mark.sip, pytest.mark.slow]

NUMBER = r"([0-9]+(?:\.[0-9]+)?|nan|inf)"


def _leftovers() -> list[str]:
    """Command lines of live processes this benchmark starts."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        # answerers, sipp and the speech server name the work directory; workers get it
        # as their TELESEC_DATA_DIR
        if "bare_pjsua2.py" in cmdline or "/ratios-" in cmdline or b"/ratios-" in environ:
            found.append(cmdline)
    return found


@pytest.mark.timeout(150)
def test_quick_run_prints_both_ratios():
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick"], cwd=REPO,
                         capture_output=True, text=True, timeout=140)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    sip = re.search(rf"^RATIO sip engine/bare cpu_per_call={NUMBER} \(telesec {NUMBER} vs "
                    rf"bare pjsua2 {NUMBER} % of a core per call", out, re.M)
    asr = re.search(rf"^RATIO asr engine/vosk cpu_per_audio_s={NUMBER} "
                    rf"final_delay_p50={NUMBER} ", out, re.M)
    assert sip and asr, out
    values = [float(v) for v in sip.groups() + asr.groups()]
    assert all(math.isfinite(v) and v > 0 for v in values), out
    # the Telesec side really ran the calls through the real call handler
    logged = re.search(r"^telesec side: (\d+) calls in the calls log", out, re.M)
    assert logged and int(logged.group(1)) == 4, out
    assert _leftovers() == []


@pytest.mark.timeout(120)
def test_interrupted_run_leaves_nothing_behind():
    process = subprocess.Popen([sys.executable, str(SCRIPT), "--quick"], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 90
        line = ""
        while time.monotonic() < deadline and not line.startswith("1. SIP:"):
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else ""
        time.sleep(3)  # the bare answering process and its sipp are up
        assert _leftovers(), "the bare side should be running"
        os.kill(process.pid, signal.SIGINT)
        assert process.wait(60) == 130
        assert "interrupted" in (process.stderr.read() if process.stderr else "")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert _leftovers() == []
