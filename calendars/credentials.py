"""A calendar's address and credentials, sealed with the keyring for the database.

The sealed value is AES-256-GCM under ``keyring.derive("calendar-source", kek_id)``::

    version (1 byte = 1) | kek id length (1 byte) | kek id (ASCII) | nonce (12) | ciphertext+tag

The associated data binds it to its practitioner (``telesec-calendar-source-v1|<id>|``
+ header), so a value copied to another practitioner's link does not open. The address
is sealed too: an ICS address often *is* the secret (a private feed URL).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from foundation.errors import TelesecError
from storage.keyring import Keyring, KeyringError
from storage.models import CalendarKind

FORMAT_VERSION = 1
_AAD = b"telesec-calendar-source-v1|"
_NONCE = 12


class CalendarSourceInvalid(TelesecError):
    """A calendar address or its credentials cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class CalendarSource:
    """Where a calendar is and how to log in (never printed: see ``__repr__``)."""

    kind: CalendarKind
    url: str = dataclasses.field(repr=False)
    username: str | None = dataclasses.field(default=None, repr=False)
    password: str | None = dataclasses.field(default=None, repr=False)

    @property
    def server(self) -> str:
        """The host (and port) alone: what people are shown."""
        return urlsplit(self.url).netloc.rpartition("@")[2][:255]


def checked_source(kind: CalendarKind | str, url: str, username: str | None,
                   password: str | None) -> CalendarSource:
    """A source after checking the address is an absolute http(s) URL without credentials."""
    kind = CalendarKind(kind)
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CalendarSourceInvalid(
            "the calendar address must be an http:// or https:// URL (the collection, "
            "or for ICS the address of the .ics file)")
    if parts.username or parts.password:
        raise CalendarSourceInvalid(
            "put the user name and password in their own fields, not in the address")
    if any(ord(ch) < 33 for ch in url) or len(url) > 2000:
        raise CalendarSourceInvalid("the calendar address has spaces or control characters")
    if kind is CalendarKind.CALDAV and not (username and password):
        raise CalendarSourceInvalid(
            "a CalDAV calendar needs a user name and a password (an app password for "
            "Apple or Google)")
    if (username is None) != (password is None):
        raise CalendarSourceInvalid("give both the user name and the password, or neither")
    if kind is CalendarKind.CALDAV and not url.endswith("/"):
        url += "/"
    return CalendarSource(kind, url, username or None, password or None)


def seal(keyring: Keyring, practitioner_id: int, source: CalendarSource) -> bytes:
    """Encrypt ``source`` for the link of ``practitioner_id`` under the current key."""
    kek_id = keyring.current_kek_id.encode("ascii")
    header = bytes([FORMAT_VERSION, len(kek_id)]) + kek_id
    body = json.dumps({"kind": str(source.kind), "url": source.url,
                       "username": source.username, "password": source.password}).encode()
    nonce = secrets.token_bytes(_NONCE)
    aead = AESGCM(keyring.derive("calendar-source", kek_id.decode()))
    return header + nonce + aead.encrypt(nonce, body, _aad(practitioner_id, header))


def open_sealed(keyring: Keyring, practitioner_id: int, blob: bytes) -> CalendarSource:
    """Decrypt a sealed source; a value edited, moved or under a missing key is refused."""
    if len(blob) < 2 or blob[0] != FORMAT_VERSION:
        raise CalendarSourceInvalid("the stored calendar credentials have an unknown format; "
                                    "link the calendar again")
    end = 2 + blob[1]
    header, kek_id = blob[:end], blob[2:end].decode("ascii", errors="replace")
    nonce, body = blob[end:end + _NONCE], blob[end + _NONCE:]
    try:
        aead = AESGCM(keyring.derive("calendar-source", kek_id))
        data = json.loads(aead.decrypt(nonce, body, _aad(practitioner_id, header)))
    except (KeyringError, InvalidTag, ValueError):
        raise CalendarSourceInvalid(
            "the stored calendar credentials do not open with this keyring (edited, moved "
            "or under a retired key); link the calendar again") from None
    return CalendarSource(CalendarKind(data["kind"]), data["url"], data.get("username"),
                          data.get("password"))


def sealed_kek_id(blob: bytes) -> str:
    """The id of the key a sealed source was encrypted under (for rotation)."""
    return blob[2:2 + blob[1]].decode("ascii", errors="replace")


def _aad(practitioner_id: int, header: bytes) -> bytes:
    return _AAD + str(practitioner_id).encode() + b"|" + header
