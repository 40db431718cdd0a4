"""The tests' own ports: below the ephemeral range, per xdist worker, never handed twice."""

from __future__ import annotations

import pytest

from tests import ports


def _covered(share: list[tuple[int, int]]) -> set[int]:
    return {port for first, end in share for port in range(first, end)}


def test_two_workers_shares_are_disjoint_and_avoid_reserved_and_ephemeral_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    shares = []
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        shares.append(_covered(ports.worker_share()))
    assert shares[0] and shares[1] and not shares[0] & shares[1]
    every = shares[0] | shares[1]
    assert max(every) < min(ports._ephemeral_low(), 32768) and min(every) >= ports.LOW
    for first, end in ports.RESERVED:
        assert not every & set(range(first, end))
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT")
    assert _covered(ports.worker_share()) == every  # one process alone has it all


def test_ports_handed_out_never_overlap_and_rtp_bases_are_even() -> None:
    taken: set[int] = set()
    for _ in range(5):
        base = ports.free_rtp_base()
        assert base % 2 == 0
        span = set(range(base, base + ports.RTP_SPAN))
        assert not span & taken
        taken |= span
        pair = ports.free_port(span=2)
        assert not {pair, pair + 1} & taken
        taken |= {pair, pair + 1}
