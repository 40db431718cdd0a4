"""What SIP software's own log lines must lose before they reach ours: callers' numbers.

Kamailio's and pjsip's lines may carry SIP URIs (``sip:+33612345678@host``) and dumped
messages (From/To headers with names); the user parts and the dumps are removed.
"""

from __future__ import annotations

import re

_SIP_USER = re.compile(r"\b(sips?|tel):[^@\s>;]+@", re.IGNORECASE)
_MESSAGE_DUMP = re.compile(r"(message|buf|msg)\s*=?\s*<.*", re.IGNORECASE | re.DOTALL)


def redact(line: str) -> str:
    """``line`` without SIP user parts (``sip:***@host``) and without dumped messages."""
    line = _MESSAGE_DUMP.sub(r"\1=<redacted>", line)
    return _SIP_USER.sub(lambda m: f"{m.group(1)}:***@", line)
