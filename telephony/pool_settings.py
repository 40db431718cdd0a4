"""Tuning of the worker pool and its Kamailio front (timers, limits), with safe defaults.

The shape of the pool (addresses, ports, worker count) comes from ``Settings.sip``; these
are the knobs below it. Tests shorten the timers; production keeps the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PoolTuning:
    """Timers and limits of the pool. Times in seconds unless the name says otherwise."""

    probe_interval_s: int = 5
    """Kamailio sends OPTIONS to every worker this often; a silent one is marked down."""
    worker_answer_timeout_ms: int = 2000
    """No reply at all from a worker within this delay: Kamailio moves on to the next."""
    ring_timeout_ms: int = 40000
    in_dialog_timeout_ms: int = 8000
    """BYE, re-INVITE, INFO to a worker: no other worker can take them, so wait longer
    than ``worker_answer_timeout_ms`` before answering 408 (a busy worker is not a dead one)."""
    """A worker that replied (100 Trying) but did not answer within this delay: next."""
    retry_after_s: int = 30
    """Value of the Retry-After header sent with 486/503 when the whole pool is busy."""
    flood_requests: int = 64
    """Requests one source may send per ``flood_window_s`` before Kamailio drops it."""
    flood_window_s: int = 2
    drain_deadline_s: float = 30.0
    """On shutdown, live calls may last this long before workers are killed."""
    restart_backoff_min_s: float = 0.5
    restart_backoff_max_s: float = 30.0
    stable_after_s: float = 30.0
    """A worker that stayed up this long has its restart backoff reset."""
    ready_timeout_s: float = 30.0
    """A starting worker (or Kamailio) must be ready within this delay."""
    kamailio_children: int = 4
    kamailio_shm_mb: int = 64
    kamailio_pkg_mb: int = 8
