"""Anchors: signed audit checkpoints kept outside the database.

Someone who can write the database can delete the whole audit trail, checkpoints and
all, and put back an old copy of the head row. What they cannot do is reach a copy of
the checkpoints kept elsewhere: every checkpoint is also appended to one or more
*anchors*, and ``telesec audit verify --anchor PATH`` checks the chain against them
(:func:`storage.audit.verify`): a checkpoint at seq ``n`` in the anchor proves that
events 1..n existed with those hashes.

An anchor is anything with an ``append(entry)`` (:class:`AuditAnchor`). Two exist:

- :class:`FileAnchor`: one line per checkpoint appended to a file, on storage other than
  the database's (another disk, a mount from another host, an append-only file);
- :class:`SyslogAnchor`: one syslog datagram per checkpoint (a local ``/dev/log`` or a
  remote collector over UDP). It cannot be read back: verify the file the collector
  writes (``--anchor /var/log/...``); lines that are not checkpoints are skipped.

Each line is ``telesec-audit-checkpoint {json}`` with ``seq``, ``hash``, ``at``,
``public_key`` and ``signature``; the signature is the Ed25519 checkpoint signature, so
an anchor needs no protection of its own against forgery, only against deletion.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from storage.private_files import private_dir

MARK = "telesec-audit-checkpoint"
SYSLOG_PRIORITY = 13 * 8 + 6  # facility "log audit" (13), severity informational


class AnchorError(Exception):
    """An anchor cannot be written or read; the message says which and what to do."""


@dataclass(frozen=True)
class AnchorEntry:
    """One signed checkpoint as kept in an anchor."""

    seq: int
    hash: str
    at: datetime
    public_key: str
    signature: str

    def line(self) -> str:
        body = {"seq": self.seq, "hash": self.hash, "at": self.at.isoformat(),
                "public_key": self.public_key, "signature": self.signature}
        return f"{MARK} {json.dumps(body, sort_keys=True, separators=(',', ':'))}"

    @classmethod
    def parse(cls, line: str) -> AnchorEntry:
        """Read the entry in ``line`` (anything before the mark, e.g. a syslog prefix, is
        skipped); ValueError if the line has the mark but no valid entry."""
        _, _, rest = line.partition(MARK + " ")
        body = json.loads(rest)
        entry = cls(seq=int(body["seq"]), hash=str(body["hash"]),
                    at=datetime.fromisoformat(body["at"]), public_key=str(body["public_key"]),
                    signature=str(body["signature"]))
        if entry.at.tzinfo is None or entry.seq < 0:
            raise ValueError("bad time or seq")
        return entry


class AuditAnchor(Protocol):
    """Somewhere outside the database that keeps every checkpoint appended to it."""

    @property
    def name(self) -> str: ...

    def append(self, entry: AnchorEntry) -> None: ...


class FileAnchor:
    """Appends checkpoints to a file (mode 0600), one line each, synced to disk."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return f"file {self.path}"

    def append(self, entry: AnchorEntry) -> None:
        try:
            private_dir(self.path.parent)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (entry.line() + "\n").encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise AnchorError(
                f"cannot append to the audit anchor {self.path} ({exc.strerror}); "
                "check that its storage is mounted and writable"
            ) from None

    def entries(self) -> tuple[list[AnchorEntry], list[str]]:
        return read_anchor(self.path)


class SyslogAnchor:
    """Sends each checkpoint as one syslog datagram: ``unix:/dev/log`` or ``udp:HOST:PORT``."""

    def __init__(self, address: str) -> None:
        self.address = address
        kind, _, where = address.partition(":")
        if kind == "unix" and where:
            self._family, self._target = socket.AF_UNIX, where
        elif kind == "udp" and where.rpartition(":")[2].isdigit():
            host, _, port = where.rpartition(":")
            self._family, self._target = socket.AF_INET, (host.strip("[]"), int(port))
            if ":" in host:
                self._family = socket.AF_INET6
        else:
            raise AnchorError(
                f"syslog anchor {address!r}: use unix:/dev/log or udp:HOST:PORT"
            )

    @property
    def name(self) -> str:
        return f"syslog {self.address}"

    def append(self, entry: AnchorEntry) -> None:
        message = f"<{SYSLOG_PRIORITY}>telesec: {entry.line()}".encode("ascii")
        try:
            with socket.socket(self._family, socket.SOCK_DGRAM) as sock:
                sock.sendto(message, self._target)
        except OSError as exc:
            raise AnchorError(
                f"cannot send the audit checkpoint to syslog {self.address} ({exc.strerror}); "
                "check that the syslog service is listening"
            ) from None


def read_anchor(path: Path) -> tuple[list[AnchorEntry], list[str]]:
    """The checkpoints in an anchor file, and one problem per damaged checkpoint line."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise AnchorError(f"cannot read the audit anchor {path} ({exc.strerror})") from None
    entries: list[AnchorEntry] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if MARK not in line:
            continue
        try:
            entries.append(AnchorEntry.parse(line))
        except (ValueError, KeyError, TypeError):
            problems.append(f"anchor {path} line {number}: a checkpoint line is damaged")
    return entries, problems


def append_all(anchors: Iterable[AuditAnchor], entry: AnchorEntry) -> None:
    for anchor in anchors:
        anchor.append(entry)
