"""What the benchmark smoke tests share: finding the processes a benchmark started, and
interrupting a run the way a person would (Ctrl-C)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from foundation.processes import processes_where

REPO = Path(__file__).resolve().parents[2]


def live_processes(belongs: Callable[[str, bytes], bool]) -> list[str]:
    """Command lines of live (not zombie) processes for which ``belongs(cmdline, environ)``."""
    return list(processes_where(belongs).values())


def interrupt_run(script: Path, *, once_printed: str, settle: float, start_within: float,
                  leftovers: Callable[[], list[str]], exit_within: float) -> str:
    """Run ``script --quick``, send SIGINT ``settle`` s after it prints a line starting
    with ``once_printed``; check it was running something and exits 130. Its stderr."""
    process = subprocess.Popen([sys.executable, str(script), "--quick"], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        deadline = time.monotonic() + start_within
        line = ""
        while time.monotonic() < deadline and not line.startswith(once_printed):
            line = process.stdout.readline()
            assert line, process.stderr.read()
        time.sleep(settle)
        assert leftovers(), "the benchmark should have processes running by now"
        os.kill(process.pid, signal.SIGINT)
        assert process.wait(exit_within) == 130
        return process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
