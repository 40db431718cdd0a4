"""The address a request came from, as written in the audit trail and used by limits.

It is the peer of the connection, unless that peer is a trusted proxy: then
:class:`api.proxies.TrustedProxies` has already put the forwarded address in the scope.
"""

from __future__ import annotations

from starlette.requests import Request

UNKNOWN = "unknown"


def client_address(request: Request) -> str:
    return request.client.host[:64] if request.client else UNKNOWN
