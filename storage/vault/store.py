"""The vault: encrypted blobs under a directory, their metadata and wrapped keys in the DB."""

from __future__ import annotations

import fcntl
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, event, func, select, update
from sqlalchemy.orm import Session

from storage import audit, outbox
from storage.db import Database
from storage.keyring import Keyring, KeyringError
from storage.models import ObjectKind, ObjectStatus, VaultObject, utcnow
from storage.private_files import private_dir
from storage.vault.format import (
    DEFAULT_CHUNK_SIZE,
    HEADER_LEN,
    TAG_LEN,
    ChunkCipher,
    Header,
    StreamEncryptor,
    VaultIntegrityError,
    derive_keys,
    new_dek,
)
from storage.vault.reader import VaultReader
from storage.vault.retention_policy import RetentionPolicy
from storage.vault.writer import VaultWriter, fsync_dir

BLOB_SUFFIX = ".tsv"
PART_SUFFIX = ".part"


class VaultError(Exception):
    """An object cannot be used (unknown, shredded, still being written); one line."""


@dataclass
class RecoveryReport:
    truncated: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    live: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.truncated)} truncated, {len(self.completed)} completed, "
            f"{len(self.removed)} removed, {len(self.live)} still being written, "
            f"{len(self.damaged)} damaged"
        )


class Vault:
    """Creates, opens and recovers vault objects. Thread-safe; one per process is enough."""

    def __init__(
        self,
        db: Database,
        keyring: Keyring,
        root: Path,
        *,
        policy: RetentionPolicy | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self.db = db
        self.keyring = keyring
        self.root = root
        self.policy = policy or RetentionPolicy()
        self.chunk_size = chunk_size

    # ---- paths ---------------------------------------------------------------------
    @staticmethod
    def relative_path(object_id: str) -> str:
        return f"{object_id[:2]}/{object_id}{BLOB_SUFFIX}"

    def path(self, relative: str) -> Path:
        return self.root / relative

    def _part_path(self, relative: str) -> Path:
        return self.path(relative).with_suffix(PART_SUFFIX)

    # ---- writing ---------------------------------------------------------------------
    def create(
        self,
        kind: ObjectKind,
        *,
        practice_id: int | None = None,
        patient_id: int | None = None,
        practitioner_id: int | None = None,
        call_id: str | None = None,
        media_type: str | None = None,
        retention_class: str | None = None,
        now: datetime | None = None,
    ) -> VaultWriter:
        """Start a new object; feed it with ``append`` and finish with ``close``."""
        kind = ObjectKind(kind)
        object_id = uuid.uuid4().hex
        relative = self.relative_path(object_id)
        created = now or utcnow()
        klass = retention_class or kind.value
        dek = new_dek()
        kek_id, wrapped = self.keyring.wrap(dek, patient_id=patient_id)
        with self.db.session() as session:
            session.add(VaultObject(
                id=object_id, kind=kind, status=ObjectStatus.WRITING, practice_id=practice_id,
                patient_id=patient_id, practitioner_id=practitioner_id, call_id=call_id,
                media_type=media_type, retention_class=klass, created_at=created,
                expires_at=self.policy.expires_at(klass, created), size=0, kek_id=kek_id,
                wrapped_dek=wrapped, key_patient_id=patient_id, blob_path=relative,
            ))
        part = self._part_path(relative)
        try:
            private_dir(part.parent)
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            encryptor = StreamEncryptor(dek, bytes.fromhex(object_id), self.chunk_size)
            return VaultWriter(object_id, encryptor, fd, part, self.path(relative),
                               self._mark_complete, self._forget)
        except BaseException:
            part.unlink(missing_ok=True)
            self._forget(object_id)
            raise

    def put(self, kind: ObjectKind, data: bytes, **metadata: object) -> str:
        """Store a whole plaintext at once; returns the object id."""
        writer = self.create(kind, **metadata)  # type: ignore[arg-type]
        with writer:
            writer.append(data)
        return writer.object_id

    def _mark_complete(self, object_id: str, size: int) -> None:
        with self.db.session() as session:
            done = session.execute(
                update(VaultObject)
                .where(VaultObject.id == object_id, VaultObject.status == ObjectStatus.WRITING)
                .values(status=ObjectStatus.COMPLETE, size=size, completed_at=utcnow())
            ).rowcount
            if done:
                outbox.voicemail_completed(session, object_id)

    def _forget(self, object_id: str) -> None:
        with self.db.session() as session:
            session.execute(delete(VaultObject).where(VaultObject.id == object_id))

    # ---- reading ---------------------------------------------------------------------
    def get(self, object_id: str) -> VaultObject:
        """The metadata row of an object (detached; no key material used)."""
        with self.db.session() as session:
            row = session.get(VaultObject, object_id)
            if row is None:
                raise VaultError(f"no vault object {object_id}")
            return row

    def open(self, object_id: str) -> VaultReader:
        """A reader over the object's plaintext. The caller records the audit event."""
        row = self.get(object_id)
        if row.status is ObjectStatus.SHREDDED or row.wrapped_dek is None:
            raise VaultError(f"vault object {object_id} was destroyed")
        if row.status is ObjectStatus.WRITING:
            raise VaultError(f"vault object {object_id} is still being written")
        try:
            dek = self._unwrap(row)
        except KeyringError as exc:
            raise VaultIntegrityError(f"vault object {object_id}: {exc}") from None
        assert row.blob_path is not None
        return VaultReader(
            self.path(row.blob_path), dek, bytes.fromhex(object_id),
            truncated=row.status is ObjectStatus.TRUNCATED, expected_size=row.size,
        )

    def read(self, object_id: str) -> bytes:
        """The whole plaintext of an object (small objects, tests)."""
        with self.open(object_id) as reader:
            return reader.read_all()

    def delete_blob(self, relative: str) -> None:
        """Remove an object's file (and any ``.part``) durably."""
        final = self.path(relative)
        final.unlink(missing_ok=True)
        self._part_path(relative).unlink(missing_ok=True)
        if final.parent.is_dir():
            fsync_dir(final.parent)

    def link_patient(self, object_id: str, patient_id: int) -> None:
        """Link an object made before its patient was known (a call's recording) to that
        patient; its data key is rewrapped under the patient's key too. Nothing happens
        if the object is gone."""
        with self.db.session() as session:
            row = session.get(VaultObject, object_id, with_for_update=True)
            if row is None:
                return
            row.patient_id = patient_id
            if row.wrapped_dek is not None and row.key_patient_id != patient_id:
                dek = self._unwrap(row)
                row.kek_id, row.wrapped_dek = self.keyring.wrap(dek, patient_id=patient_id)
                row.key_patient_id = patient_id

    def _unwrap(self, row: VaultObject) -> bytes:
        return self.keyring.unwrap(row.kek_id or "", row.wrapped_dek or b"",
                                   patient_id=row.key_patient_id)

    def shred(self, session: Session, object_id: str, *, actor: str, reason: str) -> bool:
        """Crypto-shred one object in the caller's transaction (patient erasure).

        Puts it on the keyring's shred register at once, then :meth:`destroy`.
        """
        self.keyring.record_shredded([object_id])
        return self.destroy(session, object_id, actor=actor, purpose=reason)

    def destroy(self, session: Session, object_id: str, *, actor: str, purpose: str,
                now: datetime | None = None) -> bool:
        """Crypto-shred one object inside the caller's transaction.

        The caller has put the id on the keyring's shred register. The data key is
        destroyed and the event audited with the caller's commit; the blob is deleted
        after that commit (and by :meth:`recover` if the process dies first).
        Returns False if the object was already destroyed.
        """
        row = session.get(VaultObject, object_id, with_for_update=True)
        if row is None or row.status is ObjectStatus.SHREDDED:
            return False
        relative, patient_id, kind = row.blob_path, row.patient_id, ObjectKind(row.kind)
        row.wrapped_dek = None
        row.kek_id = None
        row.key_patient_id = None
        row.status = ObjectStatus.SHREDDED
        row.shredded_at = now or utcnow()
        row.patient_id = row.practitioner_id = None
        row.call_id = None
        row.blob_path = None
        audit.record(
            session, actor=actor, action=f"{kind.value}.shred", object_type="vault_object",
            object_id=object_id, purpose=purpose, patient_id=patient_id,
            practice_id=row.practice_id, detail={"size": row.size},
        )
        session.flush()
        if relative:
            event.listen(session, "after_commit", lambda _s: self.delete_blob(relative), once=True)
        return True

    # ---- voicemail -------------------------------------------------------------------
    def mark_handled(self, object_id: str, at: datetime | None = None) -> None:
        """A voicemail was dealt with: its retention period starts now."""
        handled = at or utcnow()
        with self.db.session() as session:
            row = session.get(VaultObject, object_id)
            if row is None:
                raise VaultError(f"no vault object {object_id}")
            row.handled_at = handled
            row.expires_at = self.policy.expires_after_handling(row.retention_class, handled)

    # ---- keys ------------------------------------------------------------------------
    def rewrap_all(self, batch: int = 500) -> int:
        """Rewrap every data key not under the current KEK (under the object's patient's
        key too, if it has one); returns how many. No blob I/O."""
        current = self.keyring.current_kek_id
        done = 0
        while True:
            with self.db.session() as session:
                rows = session.scalars(
                    select(VaultObject).where(
                        VaultObject.wrapped_dek.is_not(None), VaultObject.kek_id != current
                    ).limit(batch)
                ).all()
                for row in rows:
                    dek = self._unwrap(row)
                    # objects of a patient made before schema 0006 get bound to them here
                    row.kek_id, row.wrapped_dek = self.keyring.wrap(
                        dek, current, patient_id=row.patient_id)
                    row.key_patient_id = row.patient_id
                done += len(rows)
            if len(rows) < batch:
                return done

    def keys_in_use(self) -> dict[str, int]:
        """Number of wrapped data keys per KEK id."""
        with self.db.session() as session:
            rows = session.execute(
                select(VaultObject.kek_id, func.count()).where(
                    VaultObject.wrapped_dek.is_not(None)
                ).group_by(VaultObject.kek_id)
            ).all()
        return {kek_id: count for kek_id, count in rows}

    # ---- crash recovery --------------------------------------------------------------
    def recover(self, now: datetime | None = None,
                grace: timedelta = timedelta(minutes=1)) -> RecoveryReport:
        """Finish what dead writers left: see docs/vault-format.md, "Truncated objects".

        Objects whose ``.part`` is still locked by a live writer are left alone.
        """
        now = now or utcnow()
        report = RecoveryReport()
        with self.db.session() as session:
            writing = session.scalars(
                select(VaultObject).where(VaultObject.status == ObjectStatus.WRITING)
            ).all()
        for row in writing:
            assert row.blob_path is not None
            part, final = self._part_path(row.blob_path), self.path(row.blob_path)
            if part.exists():
                self._recover_part(row, part, final, report)
            elif final.exists():
                self._recover_final(row, final, report)
            elif row.created_at < now - grace:
                self._forget(row.id)
                report.removed.append(row.id)
        # List the files before reading the ids: a file's row always exists before it.
        blobs = sorted(self.root.glob("*/*")) if self.root.is_dir() else []
        with self.db.session() as session:
            known = set(session.scalars(select(VaultObject.id)).all())
            shredded = set(session.scalars(
                select(VaultObject.id).where(VaultObject.status == ObjectStatus.SHREDDED)
            ).all())
        for blob in blobs:
            if blob.suffix == PART_SUFFIX and blob.stem not in known:
                fd = _try_lock(blob)
                if fd is None:
                    continue
                os.close(fd)
            elif not (blob.suffix == BLOB_SUFFIX
                      and (blob.stem not in known or blob.stem in shredded)):
                continue
            blob.unlink(missing_ok=True)  # no key exists for it any more: noise
            report.removed.append(blob.stem)
        return report

    def _recover_part(self, row: VaultObject, part: Path, final: Path,
                      report: RecoveryReport) -> None:
        fd = _try_lock(part, os.O_RDWR)
        if fd is None:
            report.live.append(row.id)
            return
        try:
            dek = self._unwrap(row)
            header_key, payload_key = derive_keys(dek)
            try:
                header = Header.decode(os.pread(fd, HEADER_LEN, 0), header_key,
                                       bytes.fromhex(row.id))
            except VaultIntegrityError:
                part.unlink()
                self._forget(row.id)
                report.removed.append(row.id)
                return
            status, size, keep = _scan_chunks(fd, ChunkCipher(payload_key, header))
            os.ftruncate(fd, keep)
            os.fsync(fd)
            os.rename(part, final)
            fsync_dir(final.parent)
            with self.db.session() as session:
                session.execute(
                    update(VaultObject)
                    .where(VaultObject.id == row.id, VaultObject.status == ObjectStatus.WRITING)
                    .values(status=status, size=size, completed_at=utcnow())
                )
            (report.completed if status is ObjectStatus.COMPLETE else report.truncated).append(
                row.id
            )
        finally:
            os.close(fd)

    def _recover_final(self, row: VaultObject, final: Path, report: RecoveryReport) -> None:
        fd = _try_lock(final)
        if fd is None:
            report.live.append(row.id)
            return
        try:
            dek = self._unwrap(row)
            with VaultReader(final, dek, bytes.fromhex(row.id)) as reader:
                for _ in reader:
                    pass
                size = reader.size
        except VaultIntegrityError:
            report.damaged.append(row.id)
            return
        finally:
            os.close(fd)
        self._mark_complete(row.id, size)
        report.completed.append(row.id)


def _try_lock(path: Path, flags: int = os.O_RDONLY) -> int | None:
    """Open ``path`` and take its lock without waiting; None if a live writer holds it."""
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _scan_chunks(fd: int, cipher: ChunkCipher) -> tuple[ObjectStatus, int, int]:
    """Walk the chunks a dead writer left: ``(status, plaintext size, bytes to keep)``."""
    sealed_len = cipher.chunk_size + TAG_LEN
    file_size = os.fstat(fd).st_size
    pos, index = HEADER_LEN, 0
    while pos + sealed_len <= file_size:
        sealed = os.pread(fd, sealed_len, pos)
        if not cipher.opens(index, sealed, last=False):
            break
        pos += sealed_len
        index += 1
    rest = min(file_size - pos, sealed_len)
    if rest >= TAG_LEN:
        sealed = os.pread(fd, rest, pos)
        if cipher.opens(index, sealed, last=True) and (rest > TAG_LEN or index == 0):
            return ObjectStatus.COMPLETE, index * cipher.chunk_size + rest - TAG_LEN, pos + rest
    return ObjectStatus.TRUNCATED, index * cipher.chunk_size, pos
