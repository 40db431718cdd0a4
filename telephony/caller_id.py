"""Who is calling, from the INVITE: the network-asserted identity when it can be believed.

A caller's number comes from P-Asserted-Identity (or the older Remote-Party-ID) when the
INVITE came through a trusted network (the front, which strips both headers from every
other source, or a trunk's network in direct mode), else from the From user. A withheld
caller (``anonymous``, ``unavailable``, ``restricted``, empty…) has no number: nothing to
look patients up by and nothing to lock out (the identity check then limits tries per call).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

#: what withheld callers are called in From / P-Asserted-Identity (lower case)
WITHHELD_USERS = frozenset({"anonymous", "unavailable", "unknown", "restricted", "private",
                            "withheld", "anonymous.invalid", ""})

_HEADER = re.compile(r"^(P-Asserted-Identity|Remote-Party-ID|From|f)\s*:\s*(.*)$",
                     re.IGNORECASE | re.MULTILINE)
_USER = re.compile(r"(?:sips?|tel):([^@;>\s]*)", re.IGNORECASE)

Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


def caller_number(user: str) -> str:
    """The caller's number from a URI user part; '' for a withheld caller."""
    cleaned = user.strip()
    if cleaned.lower() in WITHHELD_USERS:
        return ""
    if not any(ch.isdigit() for ch in cleaned):
        return ""  # a name, not a number: nothing to look patients up by, nothing to lock
    return cleaned


def _users(message: str) -> dict[str, str]:
    head = message.split("\r\n\r\n", 1)[0]
    found: dict[str, str] = {}
    for name, value in _HEADER.findall(head):
        key = "from" if name.lower() in ("from", "f") else name.lower()
        if key in found:
            continue
        match = _USER.search(value)
        found[key] = match.group(1) if match else ""
    return found


def trusted_source(source: str, trusted: Networks) -> bool:
    """True if ``source`` (``ip:port``) is in one of the ``trusted`` networks."""
    host = source.rsplit(":", 1)[0].strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in trusted)


def network_caller(message: str, *, trust_asserted: bool) -> str:
    """The caller's number from a raw INVITE ('' when withheld or unknown)."""
    users = _users(message)
    if trust_asserted:
        for header in ("p-asserted-identity", "remote-party-id"):
            if header in users:
                number = caller_number(users[header])
                if number:
                    return number
    return caller_number(users.get("from", ""))
