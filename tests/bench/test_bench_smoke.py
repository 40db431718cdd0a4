"""Smoke runs of the benchmarks that have no test of their own: each still runs end to end
in its short mode and prints its figures as numbers. The figures themselves are read by
people (bench/README.md), never asserted here: timings on a shared CI machine move."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NUMBER = r"([0-9]+(?:\.[0-9]+)?)"

pytestmark = pytest.mark.slow

SMOKES = {
    "agenda": (["bench/agenda.py", "--appointments", "300", "--seconds", "1"],
               [rf"\| sqlite\s+\| slot search \(limit 3\)\s+\|\s+{NUMBER} \|\s+{NUMBER} \|",
                rf"\| postgres\s+\| search\+hold\+confirm\s+\|\s+{NUMBER} \|"]),
    "booking_pg": (["bench/booking_pg.py", "--quick"],
                   [rf"\| postgres \| this tree\s+\|\s+2 \|\s+{NUMBER} \|\s+{NUMBER} \|",
                    r"postgres, this tree: round trips per booking .*; audit chain intact"]),
    "calendars": (["bench/calendars.py", "--events", "150", "--appointments", "200",
                   "--seconds", "0.5", "--databases", "sqlite"],
                  [rf"^RATIO sqlite slot_search_p99_with_busy/without={NUMBER}",
                   rf"\| sqlite\s+\| initial import \(150 ev\)\s+\|\s+{NUMBER} \|",
                   rf"\| incremental \(10 changes\)\s+\|\s+{NUMBER} \|.* {NUMBER} HTTP requests"]),
    "vault": (["bench/vault.py", "--quick"],
              [rf"raw AES-256-GCM\s+write\s+{NUMBER} MB/s",
               rf"vault on disk\s+write\s+{NUMBER} MB/s",
               rf"recording one call .*: {NUMBER}"]),
    "asr": (["bench/asr.py", "--quick"],
            [rf"pass 1\s+new recognizers: real-time factor mean {NUMBER}",
             rf"pass 1\s+warm recognizers: real-time factor mean {NUMBER}",
             rf"^warm recognizers: .* CPU cost per stream {NUMBER} CPU-s"]),
    "turns": (["bench/turns.py", "--quick"],
              [rf"^hiss\s+1\s+closed\s+{NUMBER}\s+{NUMBER}\s+0(?:\(\d+h\))?$",
               rf"^hiss\s+1\s+open\s+{NUMBER}\s+{NUMBER}\s+0(?:\(\d+h\))?$",
               rf"VAD CPU per listening call: {NUMBER} ms per s of speech, {NUMBER} ms"]),
    "warm_up": (["bench/warm_up.py", "--quick"],
                [rf"^\s*{NUMBER} s\s+{NUMBER} s\s+{NUMBER} MB\s+{NUMBER}, {NUMBER}\s+{NUMBER}$",
                 rf"^  after 3 answers: {NUMBER} MB$"]),
    "asr_pool": (["bench/asr_pool.py", "--quick"],
                 [rf"^\s+1\s+in-process\s+\d+\s+{NUMBER}s",
                  rf"^\s+1\s+server\s+\d+\s+{NUMBER}s",
                  rf"server \+ \d+ clients:\s+{NUMBER} MB"]),
    "identity": (["bench/identity.py", "--quick"],
                 [rf"\| sqlite\s+\| this tree\s+\| caller number -> patients\s+\|\s+{NUMBER} \|",
                  rf"\| postgres\s+\| this tree\s+\| staff: birth date alone\s+\|\s+{NUMBER} \|",
                  rf"sqlite, this tree: erasing one patient {NUMBER} ms"]),
    "closed_message": (["bench/closed_message.py", "--estimate"],
                       [rf"^fr\s+{NUMBER}s\s+{NUMBER}s"]),
    "flows": (["bench/flows.py", "--calls", "2"],
              [rf"^all turns\s+turns=\s*\d+\s+p50=\s*{NUMBER} ms"]),
    "api": (["bench/api.py", "--quick"],
            [rf"escalation fan-out, 50 SSE listeners\s+\d+\s+{NUMBER}"]),
    "understanding": (["-m", "ivr_flows.understanding.report", "--timing"],
                      [rf"^all\s+TOTAL\s+\d+\s+\d+\s+{NUMBER}%",
                       rf"^understand\(\): \d+ calls, p50 {NUMBER} ms"]),
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(SMOKES))
def test_benchmark_runs_and_prints_figures(name: str):
    args, patterns = SMOKES[name]
    run = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                         timeout=280)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for pattern in patterns:
        found = re.search(pattern, run.stdout, re.M)
        assert found, f"{name}: no match for {pattern!r} in:\n{run.stdout[-3000:]}"
        assert all(math.isfinite(float(v)) for v in found.groups()), found.group(0)
