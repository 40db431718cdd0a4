"""The RTP ports of a node's workers: one block each, disjoint, free when the worker starts.

A worker holds at most 4 calls (incoming and outgoing legs together), each taking an RTP
and an RTCP port; pjsua binds a call's ports inside its account's block only
(``portRange``), so a block of :data:`RTP_PORTS_PER_WORKER` leaves room for ports held by
others without ever reaching a neighbour's block. Blocks lie in
:data:`RTP_AREA_START`–:data:`RTP_AREA_END`: below the kernel's ephemeral ports (from 32768,
where any socket bound to port 0 may land) and below rtpengine's default range
(30000–30999).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence

log = logging.getLogger(__name__)

RTP_PORTS_PER_WORKER = 20
#: pjsua's ``portRange``: it binds RTP up to ``port + portRange`` inclusive (seen in a
#: worker's log: a block starting at 26000 with range 20 bound 26020), RTCP one above
PJSUA_PORT_RANGE = RTP_PORTS_PER_WORKER - 2
RTP_AREA_START = 20000
RTP_AREA_END = 30000
BLOCKS = (RTP_AREA_END - RTP_AREA_START) // RTP_PORTS_PER_WORKER


def derived_rtp_port(sip_port: int) -> int:
    """The first RTP port of the worker listening on ``sip_port``: consecutive SIP ports
    get consecutive, disjoint blocks."""
    return RTP_AREA_START + (sip_port % BLOCKS) * RTP_PORTS_PER_WORKER


def block_free(host: str, first: int) -> bool:
    """True when no UDP socket holds a port of the block starting at ``first`` on ``host``
    (or on every address)."""
    for port in range(first, first + RTP_PORTS_PER_WORKER):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                           socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def assign_rtp_ports(host: str, sip_ports: Sequence[int]) -> list[int]:
    """The first RTP port of each worker of a pool on ``host``: its derived block when that
    is free, else the next free block (stepping by the pool's size, so that the others'
    derived blocks are skipped); never a block given to another worker of the pool. A
    worker whose every candidate is busy keeps its derived block (pjsua then skips the
    ports it finds taken) and a warning says so."""
    given: set[int] = set()
    firsts = []
    step = max(1, len(sip_ports))
    for sip_port in sip_ports:
        start = sip_port % BLOCKS
        chosen = None
        for attempt in range(BLOCKS // step + 1):
            index = (start + attempt * step) % BLOCKS
            first = RTP_AREA_START + index * RTP_PORTS_PER_WORKER
            if index not in given and block_free(host, first):
                chosen = index
                break
        if chosen is None:
            chosen = start
            log.warning("no free block of %d RTP ports for the worker on %s:%d; using %d",
                        RTP_PORTS_PER_WORKER, host, sip_port, derived_rtp_port(sip_port))
        given.add(chosen)
        firsts.append(RTP_AREA_START + chosen * RTP_PORTS_PER_WORKER)
    return firsts
