"""Workers' RTP blocks: disjoint within a pool, below the ephemeral ports, moved when busy."""

from __future__ import annotations

import socket
from itertools import pairwise

from telephony.rtp_ports import (
    RTP_AREA_END,
    RTP_PORTS_PER_WORKER,
    assign_rtp_ports,
    block_free,
    derived_rtp_port,
)
from telephony.supervisor import WorkerSpec, default_worker_argv


def _overlap(firsts: list[int]) -> bool:
    spans = sorted(firsts)
    return any(b - a < RTP_PORTS_PER_WORKER for a, b in pairwise(spans))


def test_consecutive_workers_get_disjoint_blocks_below_the_ephemeral_ports() -> None:
    for base in (5100, 17000, 17480, 65500):
        firsts = [derived_rtp_port(base + i) for i in range(30)]
        assert not _overlap(firsts)
        assert all(first + RTP_PORTS_PER_WORKER <= RTP_AREA_END <= 32768 for first in firsts)
    assert derived_rtp_port(5100) == 22000


def _free_pool_base(host: str, workers: int) -> int:
    for base in range(17000, 18000, 50):
        if all(block_free(host, derived_rtp_port(base + i)) for i in range(workers + 1)):
            return base
    raise AssertionError("no free RTP blocks to test with")


def test_a_busy_block_moves_to_a_free_one_never_to_another_workers() -> None:
    host = "127.0.0.1"
    base = _free_pool_base(host, 3)
    busy_port = derived_rtp_port(base + 1) + 7  # someone holds one port of worker 1's block
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind((host, busy_port))
        firsts = assign_rtp_ports(host, [base, base + 1, base + 2])
    assert firsts[0] == derived_rtp_port(base)
    assert firsts[2] == derived_rtp_port(base + 2)
    assert firsts[1] != derived_rtp_port(base + 1)
    assert not _overlap(firsts)
    assert not firsts[1] <= busy_port < firsts[1] + RTP_PORTS_PER_WORKER


def test_the_supervisor_tells_each_worker_its_block() -> None:
    spec = WorkerSpec(0, "127.0.0.1", 5100, "m:f", rtp_port=22000)
    argv = default_worker_argv(spec)
    assert argv[argv.index("--rtp-port") + 1] == "22000"
