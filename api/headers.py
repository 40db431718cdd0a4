"""Security headers on every response, without exception (an ASGI middleware that never
buffers bodies): the same CSP for the console, the API and the schema."""

from __future__ import annotations

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


class SecurityHeaders:
    """Adds CSP, nosniff, referrer and framing rules, no-store; HSTS over TLS."""

    def __init__(self, app: ASGIApp, *, softphone: str | None = None) -> None:
        self.app = app
        self.base = list(BASE_HEADERS)
        if softphone:  # the console's softphone: its WebSocket, and the microphone
            self.base = [h for h in self.base
                         if h[0] not in (b"content-security-policy", b"permissions-policy")]
            self.base += [
                (b"content-security-policy",
                 f"{CSP}; connect-src 'self' {softphone}".encode()),
                (b"permissions-policy", b"camera=(), microphone=(self), geolocation=()"),
            ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [h for h in self.base if h[0] not in present]
                if NO_STORE[0] not in present:
                    extra.append(NO_STORE)
                if tls:
                    extra.append(HSTS)
                message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)
