"""Bind a TCP listening socket up front, so that a taken port stops start-up with one line."""

from __future__ import annotations

import errno
import socket

from foundation.errors import TelesecError


def bind_tcp_listener(host: str, port: int, setting: str) -> socket.socket:
    """A socket bound to ``host``:``port`` and listening; ``setting`` names the port's
    setting in the one-line error raised when the address cannot be taken."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise TelesecError(
            f"cannot listen on {host}:{port}: unknown host ({exc.strerror}); "
            f"fix the host beside {setting}") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise TelesecError(f"cannot listen on {host}:{port}: {_reason(exc, setting)}") from exc
    return sock


def _reason(exc: OSError, setting: str) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"another program uses this port: stop it or change {setting}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"this machine has no such address: fix the host beside {setting}"
    if exc.errno == errno.EACCES:
        return f"ports below 1024 need root or CAP_NET_BIND_SERVICE: use a higher {setting}"
    return f"{exc.strerror}; check {setting}"
