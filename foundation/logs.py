"""One line per event: how Telesec's processes log, and how a parent relays its children.

The top process (``telesec serve``, ``telesec front``) writes ``TIME LEVEL logger: message``
to stderr (:func:`configure`). A process it starts (a pjsua2 worker, the speech server)
writes ``LEVEL logger: message`` to its stderr, one line per record and no timestamp
(:func:`configure_child`: the newlines of a multi-line record, a traceback, are escaped).
The parent reads each child's stderr and :func:`relay` re-emits every line as one record
of its own, at the child's level, under ``telesec.<process>.<child's logger>``: one line,
one timestamp, the real level. A line outside that format (a crash dump, a library
printing on its own) comes through whole at WARNING under ``telesec.<process>``; programs
with a log format of their own (Kamailio, rtpengine) come with a parser for it.

Telesec's own loggers (and pjsip's, and the call handler's package) log at the configured
level; every other library's (alembic, uvicorn, httpx...) is capped at WARNING.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TOP_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CHILD_FORMAT = "%(levelname)s %(name)s: %(message)s"
RELAY_ROOT = "telesec"
#: the loggers that log at the configured level; any other is capped at WARNING
OWN_LOGGERS = ("foundation", "storage", "scheduling", "calendars", "notify", "staff", "speech",
               "telephony", "ivr_flows", "api", "telesec", "pjsip")

ChildLine = tuple[int, str, str]  # level, logger ('' for none), message
LineParser = Callable[[str], ChildLine | None]

_CHILD_LINE = re.compile(rf"^({'|'.join(LEVELS)}) (\S+): ?(.*)$")
_ESCAPED = re.compile(r"\\([\\nr])")
_UNESCAPED = {"\\": "\\", "n": "\n", "r": "\r"}


def configure(level: str, *, own: Iterable[str] = ()) -> None:
    """Logging of the top process: ``TIME LEVEL logger: message`` lines on stderr."""
    _install(logging.Formatter(TOP_FORMAT), level, own)


def configure_child(level: str, *, own: Iterable[str] = ()) -> None:
    """Logging of a child process for its parent's :func:`relay`: ``LEVEL logger: message``,
    one line per record. ``own`` names more loggers to keep at ``level`` (a call handler's
    package); an uncaught exception in a thread is logged as one record too."""
    _install(_OneLineFormatter(CHILD_FORMAT), level, own)
    threading.excepthook = _log_thread_exception


def relay(lines: Iterable[str], process: str, *, parse: LineParser | None = None,
          tail: deque[str] | None = None) -> None:
    """Re-emit each line a child wrote (its stderr, read until EOF) as one record under
    ``telesec.<process>``; ``parse`` reads the child's format (default: ours). The
    messages also go to ``tail``, so that a child that dies at start can be explained."""
    parse = parse or parse_child_line
    base = f"{RELAY_ROOT}.{process}"
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        parsed = parse(line)
        level, name, message = parsed if parsed else (logging.WARNING, "", line)
        if tail is not None:
            tail.append(message)
        logging.getLogger(f"{base}.{name}" if name else base).log(level, "%s", message)


def parse_child_line(line: str) -> ChildLine | None:
    """(level, logger, message) of a line written by :func:`configure_child`'s format."""
    match = _CHILD_LINE.match(line)
    if match is None:
        return None
    level, name, message = match.groups()
    return logging.getLevelNamesMapping()[level], name, _unescape(message)


def level_number(level: str) -> int:
    """``"INFO"`` -> ``logging.INFO`` (any case); ValueError for a name that is no level."""
    name = level.upper()
    if name not in LEVELS:
        raise ValueError(f"log level {level!r}: use one of {', '.join(LEVELS)}")
    return logging.getLevelNamesMapping()[name]


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).replace("\\", "\\\\")
        return text.replace("\n", "\\n").replace("\r", "\\r")


def _unescape(message: str) -> str:
    return _ESCAPED.sub(lambda m: _UNESCAPED[m.group(1)], message)


def _install(formatter: logging.Formatter, level: str, own: Iterable[str]) -> None:
    number = level_number(level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for previous in root.handlers[:]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(max(number, logging.WARNING))  # every logger not named below
    for name in (*OWN_LOGGERS, *own):
        logging.getLogger(name).setLevel(number)
    logging.captureWarnings(True)


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger(RELAY_ROOT).error(
        "thread %s failed", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
    )
