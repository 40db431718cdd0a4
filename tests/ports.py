"""Loopback ports for the tests' servers and peers, that nothing else takes meanwhile.

A port found by binding port 0 comes from the kernel's ephemeral range, where any
program's next outgoing connection or port-0 bind may land before the test's server
binds it. So ports here are taken:

- below the ephemeral range, outside the fixed blocks of the benchmarks and the
  telephony pool tests, the engine workers' RTP area (their blocks are checked free when
  a pool starts, but pjsua binds a call's ports only when the call comes) and the
  default edge media range (``RESERVED``);
- from this pytest-xdist worker's own share of what is left, so two workers running at
  once never hand out the same port;
- never overlapping a span this process handed out lately (its peers may still be up);
- and checked free, on UDP and TCP, when handed out.
"""

from __future__ import annotations

import os
import random
from collections import deque
from pathlib import Path

from foundation.port_probe import loopback_port_free
from telephony.rtp_ports import RTP_AREA_END, RTP_AREA_START

LOW = 10000
RESERVED = (  # pool tests and benchmarks; engine workers' RTP; sip.media default
    (15000, 18000), (RTP_AREA_START, RTP_AREA_END), (30000, 31100))
RTP_SPAN = 100  # ports a worker, a sipp run or a relay (rtpengine, TURN) may use
_handed: deque[tuple[int, int]] = deque(maxlen=20)  # (first, end) lately handed out


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _usable() -> list[tuple[int, int]]:
    """The (first, end) intervals left below the ephemeral range once reserved blocks go."""
    intervals, start = [], LOW
    for first, end in (*RESERVED, (min(_ephemeral_low(), 32768), 65536)):
        if first > start:
            intervals.append((start, first))
        start = max(start, end)
    return intervals


def worker_share() -> list[tuple[int, int]]:
    """This pytest-xdist worker's intervals: an equal, contiguous share of ``_usable()``."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1), index + 1)
    intervals = _usable()
    total = sum(end - first for first, end in intervals)
    low, high = total * index // count, total * (index + 1) // count
    share, offset = [], 0
    for first, end in intervals:
        lo, hi = max(low - offset, 0), min(high - offset, end - first)
        if lo < hi:
            share.append((first + lo, first + hi))
        offset += end - first
    return share


def _take(span: int, step: int, *, tcp: bool) -> int:
    share = worker_share()
    weights = [max(end - first - span, 0) for first, end in share]
    for attempt in range(300):
        if attempt and attempt % 50 == 0 and _handed:
            _handed.popleft()  # the share is crowded: the oldest span is the likeliest done
        first, end = random.choices(share, weights=weights)[0]
        base = random.randrange(first + (-first) % step, end - span, step)
        if any(base < other_end and other < base + span for other, other_end in _handed):
            continue
        if all(loopback_port_free(port, tcp=tcp) for port in range(base, base + span)):
            _handed.append((base, base + span))
            return base
    raise RuntimeError(f"no {span} free port(s) in this test worker's share {share}")


def free_port(span: int = 1) -> int:
    """A port p with p..p+span-1 free on UDP and TCP on 127.0.0.1 (a worker listens on
    both; baresip also takes p+1 for TLS; a pool of n workers takes n ports)."""
    return _take(span, 1, tcp=True)


def free_rtp_base() -> int:
    """An even port with the ``RTP_SPAN`` ports above it free on UDP (a worker's, sipp's
    or rtpengine's RTP: sipp fails outright when its audio or video port is taken)."""
    return _take(RTP_SPAN, 2, tcp=False)


def free_rtp_range() -> tuple[int, int]:
    """The first and last port of a relay's range (rtpengine's, TURN's): ``RTP_SPAN``
    ports from :func:`free_rtp_base`."""
    base = free_rtp_base()
    return base, base + RTP_SPAN - 1
