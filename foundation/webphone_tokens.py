"""Short-lived SIP credentials for the console's softphone (Kamailio's auth_ephemeral).

The API and the front share one secret (a private file). The API mints, for a logged-in
secretary and one practice's desk, the username ``<expiry>:desk-<practice>/<login>`` and
the password ``base64(HMAC-SHA256(secret, username))``; the front checks the HMAC and the
expiry, and lets that username register the desk's address ``sip:desk-<practice>`` only.
No long-lived password ever reaches the page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from foundation.files import write_atomically

DESK_PREFIX = "desk-"


@dataclass(frozen=True)
class SipToken:
    """What the page registers with: username, password, and when they stop working."""

    username: str
    password: str
    expires_at: int
    desk: str


def desk_user(practice_slug: str) -> str:
    """The SIP user of a practice's desk: every available secretary's page registers it."""
    return f"{DESK_PREFIX}{practice_slug}"


def hunt_user(practice_slug: str, login: str) -> str:
    """One secretary's page at her practice's desk (the front registers it beside the desk):
    a hunt rings the secretaries one by one through it."""
    return f"{DESK_PREFIX}{practice_slug}~{login}"


def load_or_create_secret(path: Path) -> str:
    """The shared secret in ``path``, created (0600, 32 random bytes) when missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32) + "\n")
    secret = path.read_text().strip()
    if not secret:
        write_atomically(path, (secrets.token_urlsafe(32) + "\n").encode())
        secret = path.read_text().strip()
    return secret


def token_password(secret: str, username: str) -> str:
    """base64(HMAC-SHA256(secret, username)), as auth_ephemeral computes it."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def mint(secret: str, *, login: str, practice_slug: str, now: float, ttl_s: int) -> SipToken:
    """A token letting ``login`` register ``practice_slug``'s desk until ``now + ttl_s``."""
    if "/" in login or ":" in login:
        raise ValueError("a login with '/' or ':' cannot be a SIP token's username")
    desk = desk_user(practice_slug)
    expires_at = int(now) + ttl_s
    username = f"{expires_at}:{desk}/{login}"
    return SipToken(username, token_password(secret, username), expires_at, desk)


@dataclass(frozen=True)
class TurnCredential:
    """What a page gives its TURN server (coturn's use-auth-secret REST scheme)."""

    username: str
    password: str
    expires_at: int


def turn_credential(secret: str, *, login: str, now: float, ttl_s: int) -> TurnCredential:
    """``<expiry>:<login>`` and base64(HMAC-SHA1(secret, username)): coturn recomputes it
    with the same secret and refuses it after the expiry."""
    expires_at = int(now) + ttl_s
    username = f"{expires_at}:{login}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return TurnCredential(username, base64.b64encode(digest).decode(), expires_at)
