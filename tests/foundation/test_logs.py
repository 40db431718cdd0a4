"""foundation.logs: a child's lines relayed by its parent, one record each, at their level."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections import deque

import pytest

from foundation.logs import parse_child_line, relay

# a child as the workers and the speech server are: configure_child, then log
CHILD = r"""
import logging, sys, threading
from foundation.logs import configure_child
configure_child(sys.argv[1], own=["handlers"])
logging.getLogger("telephony.worker").info("worker listening on 127.0.0.1:%d", 5100)
logging.getLogger("telephony.worker").debug("a detail")
logging.getLogger("handlers.menu").info("a handler's line")
logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
logging.getLogger("alembic.runtime.migration").warning("a library's warning")
logging.getLogger("ivr_flows.interpreter").info("a path C:\\temp\\new with backslashes")
try:
    raise ValueError("two\nlines")
except ValueError:
    logging.getLogger("telesec.call_handler").exception("call abc: the handler failed")
thread = threading.Thread(target=lambda: 1 / 0, name="call-abc")
thread.start()
thread.join()
print("a line outside the format", file=sys.stderr)
"""


def run_child(level: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", CHILD, level], capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stderr.splitlines(keepends=True)


def test_each_child_record_is_relayed_once_at_its_own_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines = run_child("INFO")
    caplog.set_level(logging.DEBUG, logger="telesec")
    tail: deque[str] = deque(maxlen=3)
    relay(lines, "worker3", tail=tail)
    got = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert got[:5] == [
        ("telesec.worker3.telephony.worker", "INFO", "worker listening on 127.0.0.1:5100"),
        ("telesec.worker3.handlers.menu", "INFO", "a handler's line"),
        ("telesec.worker3.alembic.runtime.migration", "WARNING", "a library's warning"),
        ("telesec.worker3.ivr_flows.interpreter", "INFO",
         "a path C:\\temp\\new with backslashes"),
        ("telesec.worker3.telesec.call_handler", "ERROR", got[4][2]),
    ]
    # a traceback is one record, its lines whole
    failed = got[4][2]
    assert failed.startswith("call abc: the handler failed\nTraceback (most recent call last):")
    assert failed.endswith("ValueError: two\nlines")
    # an uncaught exception in a thread: one record too
    assert got[5][:2] == ("telesec.worker3.telesec", "ERROR")
    assert got[5][2].startswith("thread call-abc failed\nTraceback")
    assert "ZeroDivisionError" in got[5][2]
    # something printed outside the format comes whole, at WARNING, under the process
    assert got[6] == ("telesec.worker3", "WARNING", "a line outside the format")
    assert len(got) == 7  # the debug line and the library's info line were never written
    assert list(tail)[-1] == "a line outside the format"


def test_the_level_given_to_the_child_is_the_level_it_logs_at(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="telesec")
    relay(run_child("DEBUG"), "speech")
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert [(r.name, r.getMessage()) for r in debug] == [
        ("telesec.speech.telephony.worker", "a detail")]
    libraries = [r.getMessage() for r in caplog.records if ".alembic." in r.name]
    assert libraries == ["a library's warning"]  # third-party loggers stay capped at WARNING
    caplog.clear()
    relay(run_child("ERROR"), "speech")
    assert {r.levelname for r in caplog.records} == {"ERROR", "WARNING"}  # + the stray line
    assert [r.name for r in caplog.records if r.levelname == "WARNING"] == ["telesec.speech"]


def test_child_lines_parse_back_exactly() -> None:
    assert parse_child_line("INFO telephony.worker: ready") == (logging.INFO,
                                                                "telephony.worker", "ready")
    assert parse_child_line("ERROR x: a\\nb \\\\n c") == (logging.ERROR, "x", "a\nb \\n c")
    assert parse_child_line("WARNING pjsip: ") == (logging.WARNING, "pjsip", "")
    assert parse_child_line("DEBUG pjsip: a\\r\\nb") == (logging.DEBUG, "pjsip", "a\r\nb")
    assert parse_child_line("2026-12-07 01:19:06,065 INFO alembic: x") is None
    assert parse_child_line("NOTICE x: y") is None
