"""GDPR access request: everything held about one patient, as one encrypted vault object.

The archive (a tar stream) is written straight into a vault object of kind ``export``
(encrypted as it is produced, no plaintext file) and holds:

- ``patient.json``: identity and code;
- ``appointments.json``: every appointment, cancelled ones included;
- ``calls.json``: the calls log entries;
- ``access_log.json``: who read or changed the record, when and why (the audit trail);
- ``objects/<kind>-<id>.<ext>``: each voicemail, recording and transcript, decrypted.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from datetime import datetime
from typing import Any

from sqlalchemy import select

from storage.db import Database
from storage.models import (
    Appointment,
    AuditEvent,
    CallRecord,
    ObjectKind,
    ObjectStatus,
    VaultObject,
)
from storage.patients import PatientDirectory
from storage.vault import Vault, VaultWriter

EXPORT_MEDIA_TYPE = "application/x-tar"
_EXTENSIONS = {ObjectKind.TRANSCRIPT: "txt"}


class _WriterFile(io.RawIOBase):
    """A write-only file over a vault writer, for :mod:`tarfile`."""

    def __init__(self, writer: VaultWriter) -> None:
        self.writer = writer

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.writer.append(bytes(data))
        return len(data)


def _json_member(tar: tarfile.TarFile, name: str, value: Any) -> None:
    data = json.dumps(value, default=str, indent=1, ensure_ascii=False).encode()
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
    tar.addfile(info, io.BytesIO(data))


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_patient(db: Database, vault: Vault, patient_id: int) -> tuple[str, int, int]:
    """Write the archive; returns ``(object id, practice id, size)``."""
    with db.read_session() as session:
        record = PatientDirectory(session).get(patient_id)
        appointments = [
            {"id": a.id, "practitioner_id": a.practitioner_id, "starts_at": _stamp(a.starts_at),
             "ends_at": _stamp(a.ends_at), "status": str(a.status), "booked_by": a.booked_by,
             "visit_type_id": a.visit_type_id}
            for a in session.scalars(select(Appointment).where(
                Appointment.patient_id == patient_id).order_by(Appointment.starts_at))
        ]
        calls = [
            {"id": c.id, "started_at": _stamp(c.started_at), "ended_at": _stamp(c.ended_at),
             "duration_seconds": c.duration_seconds, "outcome": c.outcome,
             "intent": c.intent, "verified": c.verified}
            for c in session.scalars(select(CallRecord).where(
                CallRecord.patient_id == patient_id).order_by(CallRecord.started_at))
        ]
        accesses = [
            {"at": _stamp(e.at), "actor": e.actor, "action": e.action, "purpose": e.purpose}
            for e in session.scalars(select(AuditEvent).where(
                AuditEvent.patient_id == patient_id).order_by(AuditEvent.seq))
        ]
        objects = [
            (o.id, ObjectKind(o.kind), o.media_type)
            for o in session.scalars(select(VaultObject).where(
                VaultObject.patient_id == patient_id,
                VaultObject.kind != ObjectKind.EXPORT,
                VaultObject.status.in_([ObjectStatus.COMPLETE, ObjectStatus.TRUNCATED])))
        ]
    writer = vault.create(ObjectKind.EXPORT, practice_id=record.practice_id,
                          patient_id=patient_id, media_type=EXPORT_MEDIA_TYPE)
    with writer, tarfile.open(fileobj=_WriterFile(writer), mode="w|") as tar:
        _json_member(tar, "patient.json", {
            "id": record.id, "practice_id": record.practice_id, "code": record.code,
            "first_name": record.first_name, "last_name": record.last_name,
            "birth_date": record.birth_date.isoformat(), "phone": record.phone})
        _json_member(tar, "appointments.json", appointments)
        _json_member(tar, "calls.json", calls)
        _json_member(tar, "access_log.json", accesses)
        for object_id, kind, media_type in objects:
            _object_member(tar, vault, object_id, kind, media_type)
    return writer.object_id, record.practice_id, writer.size


def _object_member(tar: tarfile.TarFile, vault: Vault, object_id: str, kind: ObjectKind,
                   media_type: str | None) -> None:
    from api.services.media import pcm_format, wav_header

    with vault.open(object_id) as reader:
        fmt = pcm_format(media_type)
        prefix = wav_header(reader.size, fmt) if fmt is not None else b""
        extension = "wav" if fmt is not None else _EXTENSIONS.get(kind, "bin")
        info = tarfile.TarInfo(f"objects/{kind.value}-{object_id}.{extension}")
        info.size, info.mtime, info.mode = len(prefix) + reader.size, int(time.time()), 0o600
        tar.addfile(info, _Concat(prefix, reader))


class _Concat(io.RawIOBase):
    """A header followed by a vault reader, read sequentially."""

    def __init__(self, prefix: bytes, reader: Any) -> None:
        self.prefix = prefix
        self.reader = reader

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes; short only at the end (tarfile expects full reads)."""
        take = self.prefix if size < 0 else self.prefix[:size]
        self.prefix = self.prefix[len(take):]
        rest = -1 if size < 0 else size - len(take)
        return take + (self.reader.read(rest) if rest else b"")
