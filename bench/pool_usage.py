"""What the pool of bench/sip_load.py costs: its processes, and CPU by thread name."""

from __future__ import annotations

from collections import Counter

from foundation.processes import descendants, thread_cpu_seconds
from telephony.supervisor import Supervisor


def thread_cpu(pids: list[int]) -> dict[tuple[int, int], tuple[str, float]]:
    """{(pid, tid): (thread name, utime + stime seconds)} of every thread of ``pids``."""
    return {(pid, tid): named for pid in pids
            for tid, named in thread_cpu_seconds(pid).items()}


def cpu_by_thread_name(before: dict[tuple[int, int], tuple[str, float]],
                       after: dict[tuple[int, int], tuple[str, float]],
                       elapsed: float) -> dict[str, float]:
    """% of one core by thread name between two :func:`thread_cpu` readings."""
    shares: Counter[str] = Counter()
    for key, (name, seconds) in after.items():
        shares[name] += (seconds - before.get(key, (name, 0.0))[1]) / elapsed * 100
    return dict(shares.most_common())


def relay_cpu_seconds(pool: Supervisor) -> float:
    """CPU seconds rtpengine has used (0 without the relay)."""
    relay = pool._relay  # the benchmark reads the supervisor's own process handle
    try:
        return relay.cpu_seconds() if relay is not None and relay.is_alive() else 0.0
    except OSError:
        return 0.0


def pool_pids(pool: Supervisor) -> tuple[list[int], list[int]]:
    """(worker pids, Kamailio pids) of the running pool."""
    status = pool.status()
    workers = [w.pid for w in status.workers if w.pid and w.alive]
    front = [status.front_pid, *descendants(status.front_pid)] if status.front_pid else []
    return workers, front
