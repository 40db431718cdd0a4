"""Which proxies may tell the API who the client is (``X-Forwarded-For``/``-Proto``).

By default none: the client is the connection's peer, and forwarded headers are
ignored (a client could write anything there). With ``api.trusted_proxies`` set to
networks, a request whose peer is in them is attributed to the right-most address of
``X-Forwarded-For`` that is not itself a trusted proxy: what the nearest untrusted hop
is, whatever the client wrote to the left of it. An ASGI middleware: it rewrites the
scope's ``client`` (and ``scheme``) before anything reads them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


class TrustedProxies:
    def __init__(self, app: ASGIApp, *, networks: Iterable[str] = ()) -> None:
        self.app = app
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks)

    def trusted(self, text: str) -> bool:
        found = _address(text)
        return found is not None and any(found in net for net in self.networks)

    def client_of(self, peer: str, forwarded_for: list[str]) -> str:
        """The client address of a request from ``peer`` with these header values."""
        if not self.trusted(peer):
            return peer
        client = peer
        hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
        for hop in reversed(hops):
            found = _address(hop)
            if found is None:
                break  # garbage: the last hop we could read is the client
            client = str(found)
            if not self.trusted(client):
                break
        return client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.networks and scope.get("client"):
            peer = scope["client"][0]
            if self.trusted(peer):
                headers = scope.get("headers", [])
                forwarded = [v.decode("latin-1") for k, v in headers
                             if k == b"x-forwarded-for"]
                scope = dict(scope, client=(self.client_of(peer, forwarded), 0))
                protos = [v.decode("latin-1").split(",")[-1].strip().lower()
                          for k, v in headers if k == b"x-forwarded-proto"]
                if protos and protos[-1] in ("http", "https"):
                    scope["scheme"] = protos[-1] if scope["type"] == "http" else \
                        {"http": "ws", "https": "wss"}[protos[-1]]
        await self.app(scope, receive, send)
