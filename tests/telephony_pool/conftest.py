"""Helpers for the pool tests: free loopback ports, sipp callers, stand-in workers.

Every test takes its own block of ports in 15000-15999 so tests of other areas (and two
fronts in one test) never collide. Layout of a block starting at B:
front B, workers B+1.., a second front B+10, callers B+20..B+32; sipp's media ports
(it binds three from its -mp) in B+100..B+199, see :func:`media_port`.
"""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from foundation.port_probe import loopback_port_free
from foundation.processes import descendants
from telephony.kamailio import sip_ping

HERE = Path(__file__).parent
SIPP_DIR = HERE / "sipp"
FAKE_WORKER = HERE / "fake_worker.py"
BLOCK = 200


def media_port(sip_port: int) -> int:
    """Media port for the sipp on ``sip_port``: three ports each, out of the SIP range."""
    offset = sip_port % BLOCK
    assert offset < 33, "SIP ports of a test stay in the first 33 of its block"
    return sip_port - offset + 100 + 3 * offset


def relay_media() -> dict[str, int]:
    """``sip.media`` for a test pool: the front's rtpengine on a free range of its own."""
    from tests.ports import free_rtp_range

    first, last = free_rtp_range()
    return {"port_min": first, "port_max": last}


@pytest.fixture
def port_base() -> int:
    """First port of a block of 200 free loopback ports in 15000-15999."""
    blocks = list(range(15000, 16000, BLOCK))
    random.shuffle(blocks)
    for base in blocks:
        if all(loopback_port_free(port) for port in range(base, base + BLOCK)):
            return base
    raise RuntimeError("no free block of ports in 15000-15999")


@dataclass(frozen=True)
class SippResult:
    returncode: int
    successful: int
    failed: int


def sipp_args(scenario: str, target: str, local_port: int, calls: int, *, rate: float = 20,
              hold_ms: int = 0, timeout_s: int = 30) -> list[str]:
    return [
        "sipp", "-sf", str(SIPP_DIR / scenario), target,
        "-i", "127.0.0.1", "-p", str(local_port), "-mp", str(media_port(local_port)),
        "-m", str(calls), "-r", str(rate), "-l", str(calls), "-d", str(hold_ms),
        "-timeout", f"{timeout_s}s", "-timeout_error",
        "-nostdin", "-trace_err", "-trace_stat", "-stf", f"stats_{local_port}.csv",
        "-error_file", f"errors_{local_port}.log",
    ]


def start_sipp(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish_sipp(process: subprocess.Popen[bytes], cwd: Path, local_port: int,
                timeout: float = 60) -> SippResult:
    """Wait for a sipp run and read its final call counters."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"sipp on port {local_port} ran over {timeout} s") from None
    if process.stderr:
        process.stderr.close()
    rows = list(csv.reader((cwd / f"stats_{local_port}.csv").open(), delimiter=";"))
    header, last = rows[0], rows[-1]
    return SippResult(
        returncode=process.returncode,
        successful=int(last[header.index("SuccessfulCall(C)")]),
        failed=int(last[header.index("FailedCall(C)")]),
    )


def run_sipp(scenario: str, target: str, local_port: int, calls: int, cwd: Path,
             **options: int | float) -> SippResult:
    return finish_sipp(start_sipp(sipp_args(scenario, target, local_port, calls, **options), cwd),
                       cwd, local_port)


def count_invites(countfile: Path) -> int:
    return len(countfile.read_text().splitlines()) if countfile.exists() else 0


def wait_until(predicate, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def fake_worker_argv(port: int, countfile: Path, host: str = "127.0.0.1") -> list[str]:
    return [sys.executable, str(FAKE_WORKER), "--port", str(port), "--host", host,
            "--media-port", str(media_port(port)), "--countfile", str(countfile)]


class FakeWorkers:
    """Stand-in workers started by the test itself (no supervisor)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.processes: dict[int, subprocess.Popen[str]] = {}

    def countfile(self, port: int) -> Path:
        return self.directory / f"worker_{port}.count"

    def start(self, port: int) -> None:
        process = subprocess.Popen(fake_worker_argv(port, self.countfile(port)),
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("READY"), f"stand-in worker on {port} did not start"
        self.processes[port] = process

    def kill(self, port: int) -> None:
        process = self.processes.pop(port)
        process.kill()
        process.wait()
        assert wait_until(lambda: sip_ping("127.0.0.1", port, 0.1) is None, 5)

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.wait(timeout=10)
            if process.stdout:
                process.stdout.close()
        self.processes.clear()


@pytest.fixture
def fake_workers(tmp_path: Path) -> Iterator[FakeWorkers]:
    workers = FakeWorkers(tmp_path)
    yield workers
    workers.stop_all()


_BEFORE_THE_TEST: set[int] = set()


@pytest.fixture(autouse=True)
def _children_before_the_test() -> Iterator[None]:
    """Processes other test folders left running on purpose (a session-wide browser, a
    module's speech server) are not this test's: note them so children_of skips them."""
    _BEFORE_THE_TEST.clear()
    _BEFORE_THE_TEST.update(descendants(os.getpid()))
    yield


def children_of(pid: int) -> list[int]:
    """Every live descendant of ``pid`` started during this test, zombies excluded."""
    return [child for child in descendants(pid) if child not in _BEFORE_THE_TEST]
