"""Smoke test of bench/sip_load.py: a short real run (Kamailio, 2 pjsua2 workers, sipp).

Checks that it prints its table and RESULT line, that the calls really went through the
menu, and that it leaves no process behind, also when interrupted.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.bench.processes import REPO, interrupt_run, live_processes

SCRIPT = REPO / "bench" / "sip_load.py"

pytestmark = [pytest.mark.sip, pytest.mark.slow]


def _leftovers() -> list[str]:
    """Command lines of live processes started for the benchmark's pool or callers."""
    return live_processes(lambda cmdline, _env: "sip_load_handler" in cmdline
                          or "sip_load-" in cmdline)


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
    # once its table header is out, the calls of the first level are up
    stderr = interrupt_run(SCRIPT, once_printed="calls ", settle=2, start_within=60,
                           leftovers=_leftovers, exit_within=30)
    assert "interrupted" in stderr
    assert _leftovers() == [], stderr[-3000:]


@pytest.mark.timeout(150)
def test_quick_run_via_the_relay_reports_its_cpu():
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--via-relay", "--levels", "4"],
                         cwd=REPO, capture_output=True, text=True, timeout=140)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert "media: through rtpengine" in out
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["4"])
    assert (int(row[1]), int(row[2])) == (4, 0), out  # every call through the menu
    result = re.search(r"^RESULT max_clean_concurrent_calls=\d+ .*relay=rtpengine "
                       r"cpu_per_call=([\d.]+)%core relay_cpu_per_call=([\d.]+)%core .*"
                       r"key_to_prompt_p50=(\d+)ms p95=(\d+)ms", out, re.M)
    assert result, out
    assert float(result.group(2)) > 0  # rtpengine carried the calls' media
    assert 0 < int(result.group(4)) < 2000
    assert _leftovers() == []
