"""Whether a loopback port is free now: a probe that binds it and lets go at once."""

from __future__ import annotations

import socket


def loopback_port_free(port: int, *, udp: bool = True, tcp: bool = True) -> bool:
    """True if ``port`` on 127.0.0.1 can be bound now (on UDP and/or TCP)."""
    kinds = [kind for kind, wanted in ((socket.SOCK_DGRAM, udp), (socket.SOCK_STREAM, tcp))
             if wanted]
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True
