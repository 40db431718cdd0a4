"""Vault objects written while the database is down, landed when it is back.

A spooled object is encrypted exactly like any vault object (a fresh data key, wrapped
by the keyring, STREAM chunks): its blob is written under ``<vault>/spool/`` as
``<id>.spooling`` (locked while written, ``<id>.blob`` once closed). The row the
database would have held (ids, media type, the wrapped data key) is sealed with
AES-256-GCM under ``keyring.derive("vault-spool")`` in ``<id>.meta``, written before
the first byte of audio. Nothing there is readable without the keyring.

:meth:`VaultSpool.land` (run by ``telesec serve`` at start and every 30 s) inserts each
row, moves the blob into its place and lets the vault's recovery finish it: a closed
blob becomes complete, one left by a dead writer is kept up to its last complete chunk
and flagged truncated. A voicemail landed gets its ``voicemail.recorded`` audit event.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage import audit
from storage.models import ObjectKind, ObjectStatus, VaultObject, utcnow
from storage.private_files import private_dir
from storage.vault.format import StreamEncryptor, new_dek
from storage.vault.store import RecoveryReport, Vault, _try_lock
from storage.vault.writer import VaultWriter, fsync_dir

log = logging.getLogger(__name__)

SPOOL_DIR = "spool"
META_SUFFIX = ".meta"
OPEN_SUFFIX = ".spooling"
DONE_SUFFIX = ".blob"
PURPOSE = "vault-spool"


@dataclass
class LandingReport:
    landed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # still being written
    dropped: list[str] = field(default_factory=list)  # metadata with no audio behind it

    def summary(self) -> str:
        return (f"{len(self.landed)} landed, {len(self.waiting)} still being written, "
                f"{len(self.dropped)} dropped")


class VaultSpool:
    """The vault's spool: where objects go while the database cannot take their row."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.dir = vault.root / SPOOL_DIR

    def create(self, kind: ObjectKind | str, *, practice_id: int | None = None,
               patient_id: int | None = None, practitioner_id: int | None = None,
               call_id: str | None = None, media_type: str | None = None,
               retention_class: str | None = None) -> VaultWriter:
        """Like :meth:`Vault.create`, without the database; same writer API."""
        kind = ObjectKind(kind)
        object_id = uuid.uuid4().hex
        dek = new_dek()
        kek_id, wrapped = self.vault.keyring.wrap(dek, patient_id=patient_id)
        row = {
            "id": object_id, "kind": kind.value, "practice_id": practice_id,
            "patient_id": patient_id, "practitioner_id": practitioner_id, "call_id": call_id,
            "media_type": media_type, "retention_class": retention_class or kind.value,
            "created_at": utcnow().isoformat(), "kek_id": kek_id,
            "wrapped_dek": base64.b64encode(wrapped).decode(), "key_patient_id": patient_id,
        }
        private_dir(self.dir)
        self._write_meta(object_id, kek_id, row)
        part = self.dir / f"{object_id}{OPEN_SUFFIX}"
        try:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            encryptor = StreamEncryptor(dek, bytes.fromhex(object_id), self.vault.chunk_size)
            return VaultWriter(object_id, encryptor, fd, part,
                               self.dir / f"{object_id}{DONE_SUFFIX}",
                               lambda _id, _size: None, self._drop_meta)
        except BaseException:
            part.unlink(missing_ok=True)
            self._drop_meta(object_id)
            raise

    def pending(self) -> list[str]:
        """Ids of the objects waiting in the spool."""
        if not self.dir.is_dir():
            return []
        return sorted(path.stem for path in self.dir.glob(f"*{META_SUFFIX}"))

    def land(self) -> LandingReport:
        """Move every spooled object into the database and the vault (idempotent)."""
        report = LandingReport()
        for object_id in self.pending():
            self._land_one(object_id, report)
        if report.landed or report.dropped:
            log.info("vault spool: %s", report.summary())
        return report

    # -- internals -------------------------------------------------------------------------
    def _meta_path(self, object_id: str) -> Path:
        return self.dir / f"{object_id}{META_SUFFIX}"

    def _cipher(self, kek_id: str) -> AESGCM:
        return AESGCM(self.vault.keyring.derive(PURPOSE, kek_id))

    def _write_meta(self, object_id: str, kek_id: str, row: dict) -> None:
        nonce = os.urandom(12)
        sealed = self._cipher(kek_id).encrypt(nonce, json.dumps(row).encode(),
                                              object_id.encode())
        body = json.dumps({"kek_id": kek_id, "nonce": nonce.hex(),
                           "sealed": base64.b64encode(sealed).decode()})
        path, tmp = self._meta_path(object_id), self.dir / f".{object_id}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        fsync_dir(self.dir)

    def _read_meta(self, object_id: str) -> dict:
        body = json.loads(self._meta_path(object_id).read_text())
        plain = self._cipher(body["kek_id"]).decrypt(
            bytes.fromhex(body["nonce"]), base64.b64decode(body["sealed"]), object_id.encode())
        return json.loads(plain)

    def _drop_meta(self, object_id: str) -> None:
        self._meta_path(object_id).unlink(missing_ok=True)

    def _land_one(self, object_id: str, report: LandingReport) -> None:
        done = self.dir / f"{object_id}{DONE_SUFFIX}"
        open_part = self.dir / f"{object_id}{OPEN_SUFFIX}"
        if open_part.exists():
            fd = _try_lock(open_part)
            if fd is None:
                report.waiting.append(object_id)  # a live writer: next time
                return
            os.close(fd)
        row = self._read_meta(object_id)
        vault = self.vault
        relative = vault.relative_path(object_id)
        final, part = vault.path(relative), vault._part_path(relative)
        source, target = (done, final) if done.exists() else (open_part, part)
        known = self._insert_row(row, relative)
        if source.exists():
            private_dir(target.parent)
            os.rename(source, target)
            fsync_dir(target.parent)
        elif not (final.exists() or part.exists()):
            if not known:
                vault._forget(object_id)
            self._drop_meta(object_id)
            report.dropped.append(object_id)
            return
        stored = vault.get(object_id)
        if stored.status is ObjectStatus.WRITING:
            recovered = RecoveryReport()
            if part.exists():
                vault._recover_part(stored, part, final, recovered)
            else:
                vault._recover_final(stored, final, recovered)
        self._drop_meta(object_id)
        report.landed.append(object_id)

    def _insert_row(self, row: dict, relative: str) -> bool:
        """Insert the object's row (status writing) and its audit event; True if it was
        already there (a landing interrupted earlier)."""
        kind = ObjectKind(row["kind"])
        created = datetime.fromisoformat(row["created_at"])
        with self.vault.db.session() as session:
            if session.get(VaultObject, row["id"]) is not None:
                return True
            session.add(VaultObject(
                id=row["id"], kind=kind, status=ObjectStatus.WRITING,
                practice_id=row["practice_id"], patient_id=row["patient_id"],
                practitioner_id=row["practitioner_id"], call_id=row["call_id"],
                media_type=row["media_type"], retention_class=row["retention_class"],
                created_at=created,
                expires_at=self.vault.policy.expires_at(row["retention_class"], created),
                size=0, kek_id=row["kek_id"], wrapped_dek=base64.b64decode(row["wrapped_dek"]),
                key_patient_id=row.get("key_patient_id"), blob_path=relative,
            ))
            if kind is ObjectKind.VOICEMAIL and row["call_id"]:
                session.flush()
                audit.record(session, actor=f"ivr:{row['call_id']}", action="voicemail.recorded",
                             object_type="call", object_id=row["call_id"],
                             purpose="voicemail left while the database was down",
                             patient_id=row["patient_id"], practice_id=row["practice_id"])
        return False
