"""Smoke test of bench/ratios.py: a short real run (bare pjsua2 vs a Telesec worker under
sipp, bare Vosk vs the speech engine and server) that must print both ratios as numbers
and leave no process behind, also when interrupted."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest

from tests.bench.processes import REPO, interrupt_run, live_processes

SCRIPT = REPO / "bench" / "ratios.py"

pytestmark = [pytest.mark.sip, pytest.mark.slow]

NUMBER = r"([0-9]+(?:\.[0-9]+)?|nan|inf)"


def _leftovers() -> list[str]:
    """Command lines of live processes this benchmark starts: answerers, sipp and the speech
    server name the work directory; workers get it as their TELESEC_DATA_DIR."""
    return live_processes(lambda cmdline, environ: "bare_pjsua2.py" in cmdline
                          or "/ratios-" in cmdline or b"/ratios-" in environ)


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
    # 3 s after part 1 starts, the bare answering process and its sipp are up
    stderr = interrupt_run(SCRIPT, once_printed="1. SIP:", settle=3, start_within=90,
                           leftovers=_leftovers, exit_within=60)
    assert "interrupted" in stderr
    assert _leftovers() == []
