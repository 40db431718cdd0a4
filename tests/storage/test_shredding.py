"""Finding 2: after an erasure nothing of the patient is left to read, anywhere.

On SQLite, every file of the data directory (database, WAL, shared memory, vault, a
backup made before the erasure) is searched for every planted name, birth date and
number, in every form they could take, and for the sealed values, blind indexes and
wrapped data keys the patient had; the backup made before the erasure is opened with
the live keyring and neither the patient's identity nor the data keys of her objects in
it open. On PostgreSQL, a copy of the patient rows taken before the erasure, and the old
row versions still in the table's pages, hold the sealed values and they do not open;
nor does her transcript's data key in a copy of the vault rows.
"""

from __future__ import annotations

import io
import sqlite3
import tarfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from storage import identity
from storage.backup import _read_preamble, create_backup
from storage.db import Database
from storage.erasure import erase_patient
from storage.identity import IdentityErased
from storage.keyring import Keyring, KeyringError
from storage.migrate import upgrade
from storage.models import ObjectKind, ObjectStatus
from storage.patients import IDENTITY_FIELDS, INDEX_COLUMNS, PatientDirectory, PatientRecord
from storage.vault import Vault
from storage.vault.reader import VaultReader
from tests.storage.identity_helpers import make_practice

FIRST, LAST, BORN, PHONE = "Philomène", "Zébulonnard-Aÿ", date(1961, 4, 23), "06 71 23 45 89"
NEW_PHONE = "07 52 98 10 04"  # the number she had changed to before the erasure
TRANSCRIPT = f"Bonjour, c'est {FIRST} {LAST}, rappelez-moi au {PHONE} pour la biopsie."


def _forms() -> list[bytes]:
    """Every form a planted value could take in a file."""
    texts = [FIRST, LAST, "philomene", "zebulonnard", "zebulonnard ay", FIRST.upper(),
             LAST.upper(), "Zébulonnard", "biopsie", TRANSCRIPT[:40]]
    for when in (BORN.isoformat(), BORN.strftime("%d/%m/%Y"), BORN.strftime("%Y%m%d"),
                 BORN.strftime("%d%m%Y"), BORN.strftime("%d.%m.%Y")):
        texts.append(when)
    for number in (PHONE, NEW_PHONE):
        digits = number.replace(" ", "")
        texts += [number, digits, "+33" + digits[1:], "33" + digits[1:], "0033" + digits[1:],
                  digits[1:]]
    out = []
    for value in texts:
        out += [value.encode("utf-8"), value.encode("utf-16-le"), value.encode("latin-1",
                                                                                "replace")]
    return out


def _add_patients(db: Database, practice: int) -> tuple[PatientRecord, PatientRecord]:
    with db.session() as s:
        d = PatientDirectory(s)
        gone = d.add(practice, first_name=FIRST, last_name=LAST, birth_date=BORN, phone=PHONE,
                     actor="staff:ana")
        kept = d.add(practice, first_name="Gaspard", last_name="Quillebeuf",
                     birth_date=date(1975, 9, 12), phone="07 81 11 22 33", actor="staff:ana")
    with db.session() as s:  # another version of her row, in more pages of the WAL
        PatientDirectory(s).update(gone.id, phone=NEW_PHONE, actor="staff:ana")
    return gone, kept


def _secrets_of(db: Database, patient_id: int, object_ids: list[str]) -> list[bytes]:
    """What the database holds of the patient: sealed values, indexes, wrapped data keys."""
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM patients WHERE id = :i"),
                           {"i": patient_id}).mappings().one()
        wrapped = [conn.execute(text("SELECT wrapped_dek FROM vault_objects WHERE id = :i"),
                                {"i": object_id}).scalar() for object_id in object_ids]
    found = [bytes(row[f"{f}_sealed"]) for f in IDENTITY_FIELDS]
    found += [row[c].encode() for c in INDEX_COLUMNS]
    found += [bytes(w) for w in wrapped]
    assert len(found) == 4 + 4 + len(object_ids)
    return found


def _files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _without_secure_delete(db: Database) -> None:
    """Every connection starts as with a libsqlite built without SECURE_DELETE: the code
    must turn it on itself."""
    def off(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA secure_delete=OFF")

    for engine in (db.engine, db._read_engine):
        event.listen(engine, "connect", off, insert=True)


def _archive_database(archive: Path, keyring: Keyring, where: Path) -> sqlite3.Connection:
    """The database inside a backup archive, opened with the live keyring (an attacker who
    has an old backup and the keyring), copied to ``where``."""
    kek_id, wrapped, offset = _read_preamble(archive)
    dek = keyring.unwrap(kek_id, wrapped)
    with VaultReader(archive, dek, None, offset=offset) as reader:
        stream = io.BytesIO(reader.read_all())
    with tarfile.open(fileobj=stream, mode="r") as tar:
        member = tar.extractfile("database.sqlite")
        assert member is not None
        image = member.read()
    where.write_bytes(image)
    return sqlite3.connect(where)


def test_sqlite_data_dir_holds_nothing_of_an_erased_patient(
    tmp_path: Path, installed_keyring: Keyring
) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'telesec.db'}"
    upgrade(url)
    db = Database(url)
    _without_secure_delete(db)
    try:
        practice = make_practice(db)
        vault = Vault(db, installed_keyring, data / "vault", chunk_size=1024)
        gone, kept = _add_patients(db, practice)
        objects = [
            vault.put(ObjectKind.VOICEMAIL, b"\x55" * 5000, practice_id=practice,
                      patient_id=gone.id),
            vault.put(ObjectKind.TRANSCRIPT, TRANSCRIPT.encode(), practice_id=practice,
                      patient_id=gone.id),
        ]
        vault.put(ObjectKind.TRANSCRIPT, b"Gaspard rappelle demain", practice_id=practice,
                  patient_id=kept.id)
        archive = data / "backups" / "before-erasure.tsb"
        archive.parent.mkdir(mode=0o700)
        create_backup(db, vault.root, installed_keyring, archive)
        needles = _secrets_of(db, gone.id, objects)
        before = b"".join(_files(data).values())
        assert all(n in before for n in needles)  # the search can see them, WAL included
        assert (data / "telesec.db-wal").stat().st_size > 0

        with db.session() as s:  # as the API's erase does
            erase_patient(s, gone.id, "staff:dpo", "GDPR request 2026-118", vault=vault)

        leaks = [(path.relative_to(data), needle[:24]) for path, content in _files(data).items()
                 for needle in [*needles, *_forms()] if needle in content]
        assert leaks == []
        assert (data / "telesec.db-wal").stat().st_size == 0
        with db.session() as s:  # the other patient is untouched
            assert PatientDirectory(s).get(kept.id).last_name == "Quillebeuf"
        assert all(vault.get(o).status is ObjectStatus.SHREDDED for o in objects)

        # the backup made before: it opens with the live keyring, her identity does not
        old = _archive_database(archive, installed_keyring, tmp_path / "stolen.db")
        row = old.execute("SELECT first_name_sealed, last_name_sealed, birth_date_sealed, "
                          "phone_sealed FROM patients WHERE id = ?", (gone.id,)).fetchone()
        seal = identity.cipher()
        for field, blob in zip(IDENTITY_FIELDS, row, strict=True):
            with pytest.raises(IdentityErased):
                seal.open(f"patients.{field}", blob)
        other = old.execute("SELECT last_name_sealed FROM patients WHERE id = ?",
                            (kept.id,)).fetchone()
        assert seal.open("patients.last_name", other[0]).text == "Quillebeuf"
        # ... nor do the data keys of her voicemail and transcript in it
        for kek_id, wrapped, bound in old.execute(
                "SELECT kek_id, wrapped_dek, key_patient_id FROM vault_objects "
                "WHERE id IN (?, ?)", objects):
            assert bound == gone.id
            with pytest.raises(KeyringError, match="erased"):
                installed_keyring.unwrap(kek_id, wrapped, patient_id=bound)
    finally:
        db.dispose()


def test_postgresql_copies_and_old_row_versions_do_not_open_after_an_erasure(
    pg_database_url: str, installed_keyring: Keyring, tmp_path: Path
) -> None:
    upgrade(pg_database_url)
    db = Database(pg_database_url)
    try:
        practice = make_practice(db)
        with db.engine.begin() as conn:  # keep the dead row versions in the pages
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
            conn.execute(text("ALTER TABLE patients SET (autovacuum_enabled = false)"))
        gone, kept = _add_patients(db, practice)
        vault = Vault(db, installed_keyring, tmp_path / "vault", chunk_size=1024)
        transcript = vault.put(ObjectKind.TRANSCRIPT, TRANSCRIPT.encode(),
                               practice_id=practice, patient_id=gone.id)
        with db.engine.begin() as conn:  # a copy: a replica, a dump, a snapshot
            conn.execute(text("CREATE TABLE patients_copy AS SELECT * FROM patients"))
            conn.execute(text("CREATE TABLE vault_copy AS SELECT * FROM vault_objects"))
        sealed = _secrets_of(db, gone.id, [])[:4]

        with db.session() as s:
            erase_patient(s, gone.id, "staff:dpo", "GDPR request 2026-119", vault=vault)

        with db.engine.connect() as conn:
            pages = conn.execute(text(
                "SELECT pg_relation_size('patients') / current_setting('block_size')::int"
            )).scalar()
            raw = b"".join(
                bytes(t or b"") for page in range(pages) for (t,) in conn.execute(text(
                    "SELECT t_data FROM heap_page_items(get_raw_page('patients', :n))"),
                    {"n": page})
            )
            copy = conn.execute(text(
                "SELECT id, first_name_sealed, last_name_sealed, birth_date_sealed, "
                "phone_sealed FROM patients_copy ORDER BY id")).all()
        # PostgreSQL still has her sealed values, in dead row versions and in the copy...
        assert all(blob in raw for blob in sealed)
        assert [bytes(v) for v in copy[0][1:]] == sealed
        # ... and none of them opens any more, with the very keyring that sealed them
        seal = identity.cipher()
        for blob in sealed:
            field = IDENTITY_FIELDS[sealed.index(blob)]
            with pytest.raises(IdentityErased):
                seal.open(f"patients.{field}", blob)
        assert seal.open("patients.last_name", bytes(copy[1][2])).text == "Quillebeuf"
        assert kept.id == copy[1][0]
        with db.engine.connect() as conn:  # her transcript's data key, from the copy
            kek_id, wrapped, bound = conn.execute(text(
                "SELECT kek_id, wrapped_dek, key_patient_id FROM vault_copy WHERE id = :i"),
                {"i": transcript}).one()
        with pytest.raises(KeyringError, match="erased"):
            installed_keyring.unwrap(kek_id, bytes(wrapped), patient_id=bound)
    finally:
        db.dispose()
