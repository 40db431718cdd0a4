"""Migration 0003 seals the identity of existing patients and drops the plaintext."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import identity
from storage.db import Database, make_engine
from storage.erasure import erase_patient
from storage.identity import IdentityCipher, IdentityKeysMissing, IdentityTampered
from storage.keyring import Keyring
from storage.migrate import current_revision, downgrade, head_revision, upgrade
from storage.models import ObjectKind
from storage.patients import PatientDirectory
from storage.vault import Vault
from tests.storage.identity_helpers import dump

PATIENTS = [
    (1, "Éloïse", "Dûpont-Laval", "1984-02-29", "+33612345678"),
    (2, "Zébulon", "Ferrandière", "1951-11-30", None),
    (3, "Anaïs", "Quintrec", "2003-07-14", "+33798765432"),
]
SECRETS = ["Éloïse", "Dûpont", "Zébulon", "Ferrandière", "Anaïs", "Quintrec",
           "1984-02-29", "1951-11-30", "2003-07-14", "612345678", "798765432"]


def _plain_database_at_0002(url: str) -> None:
    upgrade(url, "0002")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO practices (id, slug, name, timezone, created_at) "
            "VALUES (1, 'cab', 'Cabinet', 'Europe/Paris', '2026-01-01 00:00:00')"))
        conn.execute(text(
            "INSERT INTO practitioners (id, practice_id, slug, display_name, active) "
            "VALUES (1, 1, 'dr', 'Dr House', true)"))
        conn.execute(text(
            "INSERT INTO visit_types (id, practice_id, code, label, duration_minutes, "
            "phone_bookable, new_patients_allowed, min_book_notice_minutes, "
            "min_cancel_notice_minutes) VALUES (1, 1, 'c', 'Consult', 15, true, true, 0, 0)"))
        for pid, first, last, born, phone in PATIENTS:
            conn.execute(text(
                "INSERT INTO patients (id, practice_id, code, first_name, last_name, "
                "birth_date, phone, created_at) VALUES (:id, 1, :code, :first, :last, "
                ":born, :phone, '2026-01-01 00:00:00')"),
                {"id": pid, "code": f"00000{pid}", "first": first, "last": last,
                 "born": date.fromisoformat(born), "phone": phone})
        conn.execute(text(
            "INSERT INTO appointments (id, practice_id, practitioner_id, patient_id, "
            "visit_type_id, starts_at, ends_at, status, booked_by, created_at) VALUES "
            "(1, 1, 1, 1, 1, '2026-03-02 09:00:00', '2026-03-02 09:15:00', 'booked', "
            "'phone', '2026-01-01 00:00:00')"))
    engine.dispose()


def test_existing_patients_are_sealed_and_found_again(
    database_url: str, installed_keyring: Keyring
) -> None:
    _plain_database_at_0002(database_url)
    upgrade(database_url, keyring=installed_keyring)
    db = Database(database_url)
    try:
        assert current_revision(db.engine) == head_revision()
        with db.session() as s:
            d = PatientDirectory(s)
            for pid, first, last, born, phone in PATIENTS:
                got = d.get(pid)
                assert (got.first_name, got.last_name, got.birth_date, got.phone) == (
                    first, last, date.fromisoformat(born), phone)
                assert got.code == f"00000{pid}"
            assert [p.id for p in d.find_by_phone(1, "06 12 34 56 78")] == [1]
            assert [p.id for p in d.find_by_name(1, "ferrandiere", "zebulon")] == [2]
            assert [p.id for p in d.find_by_birth_date(1, date(2003, 7, 14))] == [3]
            count = s.execute(text("SELECT count(*) FROM appointments")).scalar()
            assert count == 1  # the table rewrite did not cascade
        everything = dump(db.engine)
        assert "Dr House" in everything
        for secret in SECRETS:
            assert secret not in everything, secret
    finally:
        db.dispose()


def test_sqlite_file_keeps_no_plaintext_page(tmp_path: Path, installed_keyring: Keyring) -> None:
    path = tmp_path / "telesec.db"
    url = f"sqlite:///{path}"
    _plain_database_at_0002(url)
    assert b"Quintrec" in path.read_bytes() + _wal(path)  # the check can see plaintext
    upgrade(url, keyring=installed_keyring)
    raw = path.read_bytes() + _wal(path)
    for secret in SECRETS:
        assert secret.encode() not in raw, secret


def _wal(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""


def test_upgrade_without_keyring_refuses_and_changes_nothing(database_url: str) -> None:
    _plain_database_at_0002(database_url)
    with pytest.raises(IdentityKeysMissing, match="no keyring was given"):
        upgrade(database_url)
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == "0002"
        with engine.connect() as conn:
            names = conn.execute(text("SELECT last_name FROM patients ORDER BY id")).scalars()
            assert list(names) == [p[2] for p in PATIENTS]
    finally:
        engine.dispose()


def test_empty_database_upgrades_without_keyring(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_downgrade_puts_the_plaintext_back(database_url: str, installed_keyring: Keyring) -> None:
    _plain_database_at_0002(database_url)
    upgrade(database_url, keyring=installed_keyring)
    downgrade(database_url, "0002", keyring=installed_keyring)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT id, first_name, last_name, birth_date, phone FROM patients ORDER BY id"))
            assert [(r[0], r[1], r[2], str(r[3]), r[4]) for r in rows] == PATIENTS
    finally:
        engine.dispose()


def _sealed_versions(url: str) -> set[int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            blobs = conn.execute(text(
                "SELECT first_name_sealed, last_name_sealed, birth_date_sealed FROM patients"))
            return {bytes(b)[0] for row in blobs for b in row if b is not None}
    finally:
        engine.dispose()


def test_0006_reseals_under_per_patient_keys_and_drops_the_birth_date_index(
    database_url: str, installed_keyring: Keyring
) -> None:
    _plain_database_at_0002(database_url)
    upgrade(database_url, keyring=installed_keyring)
    # schema 0005 as it was: values sealed under the KEK itself, a birth-date index
    downgrade(database_url, "0005", keyring=installed_keyring)
    assert _sealed_versions(database_url) == {1}
    engine = make_engine(database_url)
    with engine.connect() as conn:
        v1_copy = conn.execute(text(  # a backup made before the upgrade
            "SELECT last_name_sealed FROM patients WHERE id = 3")).scalar()
        assert conn.execute(text("SELECT count(DISTINCT birth_date_index) FROM patients")
                            ).scalar() == 3
    engine.dispose()

    upgrade(database_url, keyring=installed_keyring)
    assert _sealed_versions(database_url) == {2}
    db = Database(database_url)
    try:
        with db.session() as s:
            d = PatientDirectory(s)
            assert [p.id for p in d.find_by_birth_date(1, date(2003, 7, 14))] == [3]
            assert [p.id for p in d.find_by_birth_date_and_name(
                1, date(1951, 11, 30), "Zébulon Ferrandière")] == [2]
            assert [p.id for p in d.find_by_name(1, "quintrec", "anais")] == [3]
            assert [p.id for p in d.find_by_phone(1, "0798765432")] == [3]
        columns = {c for c in dump_columns(db)}
        assert "birth_date_index" not in columns and "first_name_index" not in columns
        with db.session() as s:
            erase_patient(s, 3, actor="staff:dpo", reason="request")
        # a copy made before the upgrade is under the KEK, not the patient's key: it dies
        # with the KEK (rotate, then retire once the old backups are gone)
        seal = identity.cipher()
        assert seal.open("patients.last_name", bytes(v1_copy)).text == "Quintrec"
        old = installed_keyring.current_kek_id
        installed_keyring.rotate()
        with db.session() as s:
            assert PatientDirectory(s).reseal_all() == 2
        installed_keyring.retire(old)
        with pytest.raises(IdentityTampered, match="does not have"):
            IdentityCipher(installed_keyring).open("patients.last_name", bytes(v1_copy))
    finally:
        db.dispose()


def dump_columns(db: Database) -> list[str]:
    from sqlalchemy import inspect

    return [c["name"] for c in inspect(db.engine).get_columns("patients")]


def test_0006_downgrade_rewraps_patient_bound_data_keys(
    database_url: str, installed_keyring: Keyring, tmp_path: Path
) -> None:
    _plain_database_at_0002(database_url)
    upgrade(database_url, keyring=installed_keyring)
    db = Database(database_url)
    try:
        object_id = Vault(db, installed_keyring, tmp_path / "vault").put(
            ObjectKind.VOICEMAIL, b"allo", patient_id=1)
    finally:
        db.dispose()
    downgrade(database_url, "0005", keyring=installed_keyring)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            kek_id, wrapped = conn.execute(text(
                "SELECT kek_id, wrapped_dek FROM vault_objects WHERE id = :i"),
                {"i": object_id}).one()
    finally:
        engine.dispose()
    assert len(installed_keyring.unwrap(kek_id, bytes(wrapped))) == 32  # the KEK alone
