"""The loopback port probe: a port held on one protocol is not free on it."""

from __future__ import annotations

import socket

from foundation.port_probe import loopback_port_free


def test_a_port_held_on_udp_is_taken_for_udp_only() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        assert not loopback_port_free(port)
        assert not loopback_port_free(port, tcp=False)
        assert loopback_port_free(port, udp=False)
