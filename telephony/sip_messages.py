"""What the engine reads from raw SIP messages and puts into the ones pjsua2 sends.

Reading: the user part of a URI, the request URI's user (the number dialled), the top
Via's transport. Writing: the parameter of a call operation (answer, hang up, refer) with
its status code, reason and extra headers.
"""

from __future__ import annotations

import re

import pjsua2 as pj

_USER_IN_URI = re.compile(r"(?:sips?|tel):([^@;>\s]+)", re.IGNORECASE)
_VIA_TRANSPORT = re.compile(r"^(?:Via|v)\s*:\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)",
                            re.IGNORECASE | re.MULTILINE)


def uri_user(uri: str) -> str:
    """The user part of a SIP URI or name-addr ('' if none)."""
    match = _USER_IN_URI.search(uri)
    return match.group(1) if match else ""


def via_transport(message: str) -> str:
    """The transport of the top Via of a raw SIP message: 'UDP', 'TCP', 'TLS' ('' if none)."""
    match = _VIA_TRANSPORT.search(message)
    return match.group(1).upper() if match else ""


def request_uri_user(message: str) -> str:
    """The user part of the request URI of a raw SIP request."""
    first_line = message.split("\r\n", 1)[0].split("\n", 1)[0]
    parts = first_line.split()
    return uri_user(parts[1]) if len(parts) >= 2 else ""


def call_param(status_code: int = 0, reason: str = "",
               headers: dict[str, str] | None = None) -> pj.CallOpParam:
    """A call operation's parameter: status code and reason (when given), extra headers."""
    prm = pj.CallOpParam(True)
    if status_code:
        prm.statusCode = status_code
    if reason:
        prm.reason = reason
    for name, value in (headers or {}).items():
        header = pj.SipHeader()
        header.hName, header.hValue = name, value
        prm.txOption.headers.append(header)
    return prm
