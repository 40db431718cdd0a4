"""Security headers on every response, without exception (an ASGI middleware that never
buffers bodies): the same CSP for the console, the API and the schema."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
BASE_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
NO_STORE = (b"cache-control", b"no-store")


_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?$")


def softphone_address(template: str, host_header: str | None) -> str | None:
    """The softphone's WebSocket address for a page loaded from ``host_header``:
    ``{host}`` in ``template`` (HTTPS without sip.webphone.url) is the page's own host
    name, the one the console's certificate names; None if that header is no host name."""
    if "{host}" not in template:
        return template
    match = _HOST.match(host_header or "")
    if match is None:
        return None
    return template.replace("{host}", match.group(1))


class SecurityHeaders:
    """Adds CSP, nosniff, referrer and framing rules, no-store; HSTS over TLS."""

    def __init__(self, app: ASGIApp, *, softphone: str | None = None) -> None:
        self.app = app
        self.base = list(BASE_HEADERS)
        self.softphone = softphone
        if softphone:  # the console's softphone: its WebSocket, and the microphone
            self.base = [h for h in self.base
                         if h[0] not in (b"content-security-policy", b"permissions-policy")]
            self.base += [
                (b"permissions-policy", b"camera=(), microphone=(self), geolocation=()"),
            ]

    def _policy(self, scope: Scope) -> tuple[bytes, bytes] | None:
        """The softphone's CSP: its WebSocket address (for this page's host name)."""
        if not self.softphone:
            return None
        host = next((value.decode("latin-1") for name, value in scope.get("headers", [])
                     if name == b"host"), None)
        address = softphone_address(self.softphone, host)
        sources = f"'self' {address}" if address else "'self'"
        return b"content-security-policy", f"{CSP}; connect-src {sources}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https"
        policy = self._policy(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [h for h in self.base if h[0] not in present]
                if policy is not None and policy[0] not in present:
                    extra.append(policy)
                if NO_STORE[0] not in present:
                    extra.append(NO_STORE)
                if tls:
                    extra.append(HSTS)
                message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)
