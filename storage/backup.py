"""Backups: one encrypted archive of the database and the vault blobs.

Layout (docs/vault-format.md, "Crypto-shredding, tombstones and backups"): a preamble
naming the KEK that wraps the archive's data key, then a vault-format stream whose
plaintext is a tar: ``manifest.json``, the database snapshot (``database.sqlite`` made
with SQLite's online backup API; ``database.jsonl`` for PostgreSQL: every Telesec
table as JSON rows, read in one repeatable-read transaction), then the blobs, copied as
they are (ciphertext). The keyring is never inside: a restore needs it separately, and
applies its shred register so that objects destroyed after the backup stay destroyed.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import sqlite3
import tarfile
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, text, update

from storage import identity
from storage.db import Database, make_engine
from storage.erasure import erase_patient
from storage.keyring import Keyring, KeyringError
from storage.migrate import current_revision, upgrade
from storage.models import Base, ObjectStatus, Patient, VaultObject, utcnow
from storage.private_files import private_dir
from storage.vault.format import DEFAULT_CHUNK_SIZE, StreamEncryptor, VaultIntegrityError, new_dek
from storage.vault.reader import VaultReader
from storage.vault.writer import fsync_dir, write_all

MAGIC = b"tsbackup"
VERSION = 1
WRAPPED_LEN = 60
_MEMBER = re.compile(r"^(manifest\.json|database\.sqlite|database\.jsonl|"
                     r"vault/[0-9a-f]{2}/[0-9a-f]{32}\.tsv)$")
LIVE = (ObjectStatus.COMPLETE.value, ObjectStatus.TRUNCATED.value)


class BackupError(Exception):
    """A backup cannot be made or restored; the message says why and what to do."""


@dataclass
class BackupSummary:
    path: Path
    database: str
    objects: int
    bytes_written: int


@dataclass
class RestoreSummary:
    database_url: str
    objects: int
    kept_destroyed: int


# ---- create -----------------------------------------------------------------------------


class _EncryptingSink:
    """A write-only file object: plaintext in, sealed chunks out to ``fd``."""

    def __init__(self, fd: int, encryptor: StreamEncryptor) -> None:
        self._fd, self._enc = fd, encryptor
        write_all(fd, encryptor.header_bytes)

    def write(self, data: bytes) -> int:
        for sealed in self._enc.update(data):
            write_all(self._fd, sealed)
        return len(data)

    def finish(self) -> None:
        write_all(self._fd, self._enc.finish())


def create_backup(db: Database, vault_root: Path, keyring: Keyring, out: Path) -> BackupSummary:
    """Write one encrypted archive of the database and the vault to ``out``."""
    if out.exists():
        raise BackupError(f"{out} already exists; choose a new file name")
    archive_id = uuid.uuid4().bytes
    dek = new_dek()
    kek_id, wrapped = keyring.wrap(dek)
    if db.is_sqlite:
        kind, (snapshot, blobs) = "sqlite", _sqlite_snapshot(db.engine)
    else:
        kind, snapshot, blobs = "jsonl", *_jsonl_snapshot(db.engine)
    part = out.with_name(out.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        write_all(fd, MAGIC + bytes([VERSION, len(kek_id)]) + kek_id.encode() + wrapped)
        sink = _EncryptingSink(fd, StreamEncryptor(dek, archive_id, DEFAULT_CHUNK_SIZE))
        copied = 0
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            manifest = {"format": 1, "created": utcnow().isoformat(), "database": kind,
                        "schema": current_revision(db.engine), "objects": len(blobs)}
            _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
            _add_bytes(tar, f"database.{kind}", snapshot)
            for relative in blobs:
                path = vault_root / relative
                try:
                    with path.open("rb") as handle:
                        info = tar.gettarinfo(fileobj=handle, arcname=f"vault/{relative}")
                        info.uid = info.gid = 0
                        info.uname = info.gname = ""
                        tar.addfile(info, handle)
                        copied += 1
                except FileNotFoundError:
                    continue  # destroyed since the snapshot: restored as a tombstone
        sink.finish()
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        part.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.rename(part, out)
    fsync_dir(out.parent)
    return BackupSummary(out, kind, copied, out.stat().st_size)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(utcnow().timestamp())
    tar.addfile(info, io.BytesIO(data))


def _sqlite_snapshot(engine: Engine) -> tuple[bytes, list[str]]:
    """A consistent in-memory copy of the live SQLite database (online backup API),
    as a database file image, and the blobs its live objects name."""
    raw = engine.raw_connection()
    memory = sqlite3.connect(":memory:")
    try:
        raw.driver_connection.backup(memory)  # type: ignore[union-attr]
        rows = memory.execute(
            "SELECT blob_path FROM vault_objects WHERE status IN (?, ?) "
            "AND blob_path IS NOT NULL ORDER BY id", LIVE
        ).fetchall()
        return memory.serialize(), [row[0] for row in rows]
    finally:
        memory.close()
        raw.close()


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, time):
        return {"$t": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        (tag, raw), = value.items()
        return {"$b": lambda: base64.b64decode(raw), "$dt": lambda: datetime.fromisoformat(raw),
                "$d": lambda: date.fromisoformat(raw), "$t": lambda: time.fromisoformat(raw)}[tag]()
    return value


def _jsonl_snapshot(engine: Engine) -> tuple[bytes, list[str]]:
    """Every Telesec table as JSON rows, read in one repeatable-read transaction."""
    lines, blobs = [], []
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, \
            conn.begin():
        for table in Base.metadata.sorted_tables:
            columns = [c.name for c in table.columns]
            for row in conn.execute(select(*_raw_columns(table))):
                values = dict(zip(columns, row, strict=True))
                lines.append(json.dumps({"table": table.name,
                                         "row": {k: _encode(v) for k, v in values.items()}}))
                if (table.name == "vault_objects" and values["status"] in LIVE
                        and values["blob_path"]):
                    blobs.append(values["blob_path"])
    return ("\n".join(lines) + "\n").encode(), sorted(blobs)


def _raw_columns(table: Any) -> list[Any]:
    """Columns read as stored (no type decorators: sealed values stay sealed bytes)."""
    from sqlalchemy import type_coerce
    from sqlalchemy.types import TypeDecorator

    out = []
    for column in table.columns:
        if isinstance(column.type, TypeDecorator):
            out.append(type_coerce(column, column.type.impl_instance))
        else:
            out.append(column)
    return out


# ---- restore ----------------------------------------------------------------------------


class _PlainStream:
    """A read-only file object over the archive's decrypted tar stream."""

    def __init__(self, reader: VaultReader) -> None:
        self._reader = reader

    def read(self, n: int = -1) -> bytes:
        return self._reader.read(n)


def restore_backup(
    archive: Path, keyring: Keyring, into: Path, database_url: str | None = None
) -> RestoreSummary:
    """Restore ``archive`` into the empty data directory ``into``.

    The database goes to ``into/telesec.db`` (or ``database_url`` for an archive made
    from PostgreSQL, into an empty database). Objects on the keyring's shred register
    come back as tombstones, without their blobs.
    """
    into = into.resolve()
    if into.exists() and any(into.iterdir()):
        raise BackupError(f"{into} is not empty; restore into a new, empty directory")
    kek_id, wrapped, offset = _read_preamble(archive)
    try:
        dek = keyring.unwrap(kek_id, wrapped)
    except KeyringError as exc:
        raise BackupError(f"this archive's key cannot be opened: {exc}") from None
    private_dir(into)
    shredded = set(keyring.shredded)
    url = database_url
    objects = 0
    with VaultReader(archive, dek, None, offset=offset) as reader, \
            tarfile.open(fileobj=_PlainStream(reader), mode="r|") as tar:  # type: ignore[call-overload]
        manifest: dict[str, Any] = {}
        for member in tar:
            if not _MEMBER.match(member.name) or not member.isfile():
                raise VaultIntegrityError(f"unexpected archive member {member.name!r}")
            handle = tar.extractfile(member)
            assert handle is not None
            if member.name == "manifest.json":
                manifest = json.loads(handle.read())
            elif member.name == "database.sqlite":
                url = _restore_sqlite(handle.read(), into / "telesec.db")
            elif member.name == "database.jsonl":
                url = url or f"sqlite:///{into / 'telesec.db'}"
                _restore_jsonl(handle, url, manifest.get("schema"))
            else:
                object_id = Path(member.name).stem
                if object_id in shredded:
                    continue
                target = into / member.name
                private_dir(target.parent)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    while block := handle.read(1 << 16):
                        write_all(fd, block)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                objects += 1
        reader.verify_end()  # the archive was not cut short
    if url is None:
        raise VaultIntegrityError("the archive holds no database")
    kept = _apply_shred_register(url, shredded)
    _replay_erasures(url, keyring)
    return RestoreSummary(url, objects, kept)


def _read_preamble(archive: Path) -> tuple[str, bytes, int]:
    with archive.open("rb") as handle:
        head = handle.read(10)
        if len(head) < 10 or head[:8] != MAGIC:
            raise BackupError(f"{archive} is not a Telesec backup archive")
        if head[8] != VERSION:
            raise BackupError(f"{archive} has unknown backup version {head[8]}")
        kek_id = handle.read(head[9]).decode("ascii", "replace")
        wrapped = handle.read(WRAPPED_LEN)
    if len(wrapped) != WRAPPED_LEN:
        raise BackupError(f"{archive} is cut short")
    return kek_id, wrapped, 10 + len(kek_id) + WRAPPED_LEN


def _restore_sqlite(snapshot: bytes, path: Path) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        write_all(fd, snapshot)
        os.fsync(fd)
    finally:
        os.close(fd)
    return f"sqlite:///{path}"


def _restore_jsonl(handle: Any, url: str, schema: str | None) -> None:
    upgrade(url, schema or "head")
    engine = make_engine(url)
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    try:
        with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())  # seed rows written by the migrations
            for line in handle.read().decode("utf-8").splitlines():
                record = json.loads(line)
                table = tables[record["table"]]
                row = {k: _decode(v) for k, v in record["row"].items()}
                conn.execute(insert(table).values(**_raw_values(table, row)))
            if engine.dialect.name == "postgresql":
                for table in tables.values():
                    for column in table.primary_key.columns:
                        if column.autoincrement is True or (
                            column.autoincrement == "auto" and column.type.python_type is int
                            and len(table.primary_key.columns) == 1
                        ):
                            conn.execute(text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', "
                                f"'{column.name}'), COALESCE(MAX({column.name}), 1)) "
                                f"FROM {table.name}"
                            ))
    finally:
        engine.dispose()


def _raw_values(table: Any, row: dict[str, Any]) -> dict[str, Any]:
    from sqlalchemy import bindparam
    from sqlalchemy.types import TypeDecorator

    values: dict[str, Any] = {}
    for name, value in row.items():
        column = table.columns[name]
        if isinstance(column.type, TypeDecorator):
            values[name] = bindparam(None, value, type_=column.type.impl_instance, unique=True)
        else:
            values[name] = value
    return values


def _replay_erasures(url: str, keyring: Keyring) -> None:
    """Patients erased since the archive was made are erased again in the restored data."""
    if not keyring.erased:
        return
    identity.install(keyring)
    db = Database(url)
    try:
        with db.session() as session:
            for patient_id in sorted(int(p) for p in keyring.erased):
                row = session.get(Patient, patient_id)
                if row is not None and row.erased_at is None:
                    erase_patient(session, patient_id, actor="system:restore",
                                  reason="erasure replayed after a restore")
    finally:
        db.dispose()


def _apply_shred_register(url: str, shredded: set[str]) -> int:
    """Objects destroyed since the archive was made, or half-written then: tombstones."""
    db = Database(url)
    try:
        with db.session() as session:
            ids = session.scalars(select(VaultObject.id).where(
                VaultObject.status != ObjectStatus.SHREDDED)).all()
            doomed = [i for i in ids if i in shredded]
            doomed += session.scalars(select(VaultObject.id).where(
                VaultObject.status == ObjectStatus.WRITING)).all()
            for start in range(0, len(doomed), 500):
                session.execute(
                    update(VaultObject).where(VaultObject.id.in_(doomed[start : start + 500]))
                    .values(status=ObjectStatus.SHREDDED, wrapped_dek=None, kek_id=None,
                            key_patient_id=None, blob_path=None, patient_id=None,
                            practitioner_id=None,
                            call_id=None, shredded_at=utcnow())
                )
        return len(doomed)
    finally:
        db.dispose()
