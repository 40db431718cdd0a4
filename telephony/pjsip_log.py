"""pjsip's own log lines, into Python logging under the ``pjsip`` logger (never raw stderr).

pjsip's levels are 1 error, 2 warning, 3 info, 4 and up debug and traces. Its "info" is a
dozen lines per call (call states, transactions), debug detail for us: 1 is ERROR, 2 is
WARNING, 3 and up are DEBUG. The level asked of pjsip follows the worker's: ERROR 1,
WARNING and INFO 2, DEBUG 3. SIP user parts are removed from every line, and SIP messages
themselves are never logged (``msgLogging`` is off).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import logging
import os
import re

import pjsua2 as pj

from telephony.log_redaction import redact

log = logging.getLogger("pjsip")

_PYTHON_LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING}
_PJSIP_LEVELS = {logging.DEBUG: 3, logging.INFO: 2, logging.WARNING: 2}
_SENDER = re.compile(r"^[\w.-]+\.(?:c|cpp)$|^(?:pjsua|pjsip|pjmedia)\w*$")


def pjsip_level(python_level: int) -> int:
    """The pjsip log level matching a Python level (what pjsip will bother to format)."""
    return _PJSIP_LEVELS.get(python_level, 1)


class PjsipLogWriter(pj.LogWriter):
    """Writes each pjsip log entry as one record of the ``pjsip`` logger.

    Give it to ``EpConfig.logConfig.writer`` with :func:`log_writer`: pjsua2 deletes its
    writer in ``libDestroy``, so Python must not own it too.
    """

    def write(self, entry: pj.LogEntry) -> None:
        try:
            level = _PYTHON_LEVELS.get(entry.level, logging.DEBUG)
            if not log.isEnabledFor(level):
                return
            text = entry.msg.strip().replace("\r\n", "\n")
            sender, _, rest = text.partition(" ")
            if _SENDER.match(sender):  # "sip_endpoint.c  Module ... registered"
                text = f"{sender}: {rest.strip()}" if rest.strip() else ""
            if text:
                log.log(level, "%s", redact(text))
        except Exception:  # never let an exception cross back into pjsip
            pass


def log_writer() -> PjsipLogWriter:
    """A writer owned by pjsua2 (it deletes it in ``libDestroy``)."""
    writer = PjsipLogWriter()
    writer.__disown__()
    return writer


def quiet_until_configured(level: int) -> None:
    """Set pjlib's log level before ``libCreate``, which logs before any writer is set:
    without this its start-up lines go straight to stdout."""
    with contextlib.suppress(OSError, IndexError, AttributeError):
        library = glob.glob(os.path.join(os.path.dirname(pj.__file__), "_pjsua2*.so"))[0]
        ctypes.CDLL(library).pj_log_set_level(level)
