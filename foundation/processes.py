"""What Linux's /proc says about processes: who descends from whom, process groups, memory, CPU.

Everything here reads /proc once per call and tolerates processes that end meanwhile (a
process gone between two reads simply is not in the answer). Zombies are never listed:
they hold no port, no memory and no CPU.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: where daemons are installed, looked at when they are not on the PATH (sbin often is not)
SYSTEM_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin", "/usr/local/bin")


@dataclass(frozen=True)
class ProcessEntry:
    """One live process: its id, its parent and its process group."""

    pid: int
    ppid: int
    pgid: int


def _stat_fields(stat_path: Path) -> list[str] | None:
    """The fields of a ``stat`` file after the command name (state first), or None."""
    try:
        return stat_path.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_table() -> list[ProcessEntry]:
    """Every live (not zombie) process of the machine."""
    entries = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry / "stat")
        if fields is None or len(fields) < 3 or fields[0] == "Z":
            continue
        entries.append(ProcessEntry(int(entry.name), int(fields[1]), int(fields[2])))
    return entries


def processes_where(belongs: Callable[[str, bytes], bool]) -> dict[int, str]:
    """{pid: command line} of the live processes (of this user: others' are unreadable) for
    which ``belongs(command line, environment)`` is true; the command line's arguments are
    joined by spaces, the environment is the raw ``NAME=value\\0...`` bytes."""
    found = {}
    for entry in process_table():
        try:
            cmdline = (PROC / str(entry.pid) / "cmdline").read_bytes()
            environ = (PROC / str(entry.pid) / "environ").read_bytes()
        except OSError:
            continue
        command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
        if belongs(command, environ):
            found[entry.pid] = command
    return found


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children, their children...), not ``pid`` itself."""
    children: dict[int, list[int]] = {}
    for entry in process_table():
        children.setdefault(entry.ppid, []).append(entry.pid)
    found: list[int] = []
    frontier = [pid]
    while frontier:
        kids = children.get(frontier.pop(), [])
        found += kids
        frontier += kids
    return found


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid``."""
    return [entry.pid for entry in process_table() if entry.pgid == pgid]


def signal_group(pid: int, sig: int) -> None:
    """Send ``sig`` to the process group led by ``pid``; nothing if it is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def pss_kb(pid: int) -> int | None:
    """Proportional set size of ``pid`` in kB (shared pages split among their users), or
    None when the process is gone or unreadable. Summed over processes it is their real
    memory, shared libraries and copy-on-write models counted once."""
    try:
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` so far, in seconds (a process gone counts 0)."""
    return sum(_cpu_ticks(PROC / str(pid) / "stat") for pid in pids) / CLOCK_TICKS


def thread_cpu_seconds(pid: int) -> dict[int, tuple[str, float]]:
    """{thread id: (thread name, user + system CPU seconds)} of every thread of ``pid``."""
    threads: dict[int, tuple[str, float]] = {}
    with contextlib.suppress(OSError):
        for task in (PROC / str(pid) / "task").iterdir():
            with contextlib.suppress(OSError):
                name = (task / "comm").read_text().strip()
                threads[int(task.name)] = (name, _cpu_ticks(task / "stat") / CLOCK_TICKS)
    return threads


def _cpu_ticks(stat_path: Path) -> int:
    fields = _stat_fields(stat_path)
    try:
        return int(fields[11]) + int(fields[12]) if fields else 0
    except (IndexError, ValueError):
        return 0


def find_program(binary: str) -> str | None:
    """Path of an executable (a name looked up on the PATH, then in :data:`SYSTEM_DIRS`,
    or a path), or None when it is not installed."""
    if os.sep in binary:
        return binary if os.access(binary, os.X_OK) else None
    found = shutil.which(binary)
    if found:
        return found
    for directory in SYSTEM_DIRS:
        candidate = Path(directory) / binary
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None
