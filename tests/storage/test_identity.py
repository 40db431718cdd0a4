"""Encrypted patient identity: sealed columns, blind-index lookups, tamper detection."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from storage import identity
from storage.db import Database
from storage.erasure import erase_patient
from storage.identity import (
    IdentityCipher,
    IdentityErased,
    IdentityKeysMissing,
    IdentityTampered,
)
from storage.keyring import Keyring
from storage.patients import IDENTITY_FIELDS, PatientDirectory, UnknownPatient
from tests.storage.identity_helpers import dump, make_practice

SECRETS = ["Éloïse", "Dûpont-Laval", "1984-02-29", "+33612345678", "612345678"]


def _add_two(db: Database, practice_id: int) -> tuple[int, int]:
    with db.session() as s:
        d = PatientDirectory(s)
        a = d.add(practice_id, first_name="Éloïse", last_name="Dûpont-Laval",
                  birth_date=date(1984, 2, 29), phone="06 12 34 56 78", actor="staff:test")
        b = d.add(practice_id, first_name="Marc", last_name="Martin",
                  birth_date=date(1970, 1, 1), phone=None, actor="staff:test")
        return a.id, b.id


def test_directory_round_trip_and_lookups(db: Database) -> None:
    practice = make_practice(db)
    other = make_practice(db, "autre")
    a_id, b_id = _add_two(db, practice)
    with db.session() as s:
        d = PatientDirectory(s)
        a = d.get(a_id)
        assert (a.first_name, a.last_name, a.birth_date, a.phone) == (
            "Éloïse", "Dûpont-Laval", date(1984, 2, 29), "+33612345678")
        assert d.get(b_id).phone is None
        assert [p.id for p in d.find_by_phone(practice, "+33 6 12 34 56 78")] == [a_id]
        assert [p.id for p in d.find_by_phone(practice, "0033612345678")] == [a_id]
        assert d.find_by_phone(other, "0612345678") == []
        assert [p.id for p in d.find_by_birth_date(practice, date(1970, 1, 1))] == [b_id]
        assert [p.id for p in d.find_by_name(practice, "DUPONT laval")] == [a_id]
        assert [p.id for p in d.find_by_name(practice, "dupont-laval", "eloise")] == [a_id]
        assert d.find_by_name(practice, "dupont-laval", "marc") == []
        assert d.by_code(practice, a.code) == a
        assert "Éloïse" not in repr(a) and "+336" not in repr(a)  # safe in a log line
        with pytest.raises(UnknownPatient):
            d.get(a_id, practice_id=other)
        d.update(b_id, phone="07 00 00 00 01", last_name="Martín", actor="staff:test")
    with db.session() as s:
        d = PatientDirectory(s)
        assert [p.id for p in d.find_by_phone(practice, "0700000001")] == [b_id]
        assert [p.id for p in d.find_by_name(practice, "martin")] == [b_id]
        assert d.get(b_id).last_name == "Martín"
        with pytest.raises(ValueError, match="cannot update"):
            d.update(b_id, code="x", actor="staff:test")


def test_no_identity_in_clear_in_a_dump(db: Database) -> None:
    _add_two(db, make_practice(db))
    everything = dump(db.engine)
    assert "cabinet" in everything  # the dump does see the data
    for secret in [*SECRETS, "Martin", "1970-01-01"]:
        assert secret not in everything
    assert "eloise" not in everything.casefold()


def test_value_moved_to_another_row_or_column_is_refused(db: Database) -> None:
    practice = make_practice(db)
    a_id, b_id = _add_two(db, practice)
    with db.engine.begin() as conn:  # an insider swaps sealed values between rows
        conn.execute(text(
            "UPDATE patients SET last_name_sealed = "
            "(SELECT last_name_sealed FROM patients WHERE id = :a) WHERE id = :b"
        ), {"a": a_id, "b": b_id})
    with db.session() as s, pytest.raises(IdentityTampered, match="another row"):
        PatientDirectory(s).get(b_id)
    with db.engine.begin() as conn:  # ... or between columns of one row
        conn.execute(text(
            "UPDATE patients SET first_name_sealed = last_name_sealed WHERE id = :a"
        ), {"a": a_id})
    with db.session() as s, pytest.raises(IdentityTampered, match="does not open"):
        PatientDirectory(s).get(a_id)


def test_seal_format_binds_column_key_and_bit_flips(installed_keyring: Keyring) -> None:
    keyring = installed_keyring
    seal = IdentityCipher(keyring)
    blob = seal.seal("patients.phone", 7, "+33612345678")
    assert seal.open("patients.phone", blob) == identity.RowBound(7, "+33612345678")
    assert b"+3361" not in blob
    with pytest.raises(IdentityTampered):
        seal.open("patients.last_name", blob)
    for position in (0, 3, len(blob) // 2, len(blob) - 1):
        flipped = bytearray(blob)
        flipped[position] ^= 1
        with pytest.raises(IdentityTampered):
            seal.open("patients.phone", bytes(flipped))
    other = IdentityCipher(Keyring.create(keyring.path.with_name("other.json")))
    with pytest.raises(IdentityTampered, match="keyring does not have"):
        other.open("patients.phone", blob)


def test_clear_error_without_a_keyring(db: Database) -> None:
    practice = make_practice(db)
    identity.uninstall()
    with db.session() as s, pytest.raises(IdentityKeysMissing, match="no keyring is loaded"):
        PatientDirectory(s).add(practice, first_name="A", last_name="B",
                                birth_date=date(2000, 1, 1), actor="staff:test")


def test_rotation_reseals_under_the_new_key(db: Database, installed_keyring: Keyring) -> None:
    keyring = installed_keyring
    practice = make_practice(db)
    a_id, _ = _add_two(db, practice)
    old = keyring.current_kek_id
    keyring.rotate()
    identity.install(keyring)
    with db.session() as s:
        assert PatientDirectory(s).reseal_all() == 2
    with db.session() as s:
        assert PatientDirectory(s).reseal_all() == 0
    keyring.retire(old)
    identity.install(keyring)
    with db.session() as s:
        d = PatientDirectory(s)
        assert d.get(a_id).first_name == "Éloïse"
        assert [p.id for p in d.find_by_phone(practice, "0612345678")] == [a_id]


def test_no_blind_index_holds_a_birth_date_alone(db: Database) -> None:
    # finding 2: an index of the birth date alone gave the date back after ~28,000 HMACs
    practice = make_practice(db)
    with db.session() as s:
        d = PatientDirectory(s)
        twins = [d.add(practice, first_name=first, last_name=last, birth_date=date(1961, 4, 23),
                       phone=phone, actor="staff:test")
                 for first, last, phone in (("Anne", "Lebrun", "0611111111"),
                                            ("Paul", "Morel", "0622222222"))]
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM patients ORDER BY id")).mappings().all()
    indexes = [{k: v for k, v in row.items() if k.endswith("_index")} for row in rows]
    assert set(indexes[0]) == {"phone_index", "last_name_index", "full_name_index",
                               "name_birth_index"}
    shared = set(indexes[0].values()) & set(indexes[1].values())
    assert shared == set()  # same birth date, nothing in common: the date is never alone
    with db.session() as s:  # the staff search by birth date alone still works
        found = PatientDirectory(s).find_by_birth_date(practice, date(1961, 4, 23))
        assert [p.id for p in found] == [p.id for p in twins]


@pytest.mark.parametrize("said,expected", [
    ("Lebrun", ["anne"]), ("anne lebrun", ["anne"]), ("Marie-Anne Lebrun", ["anne"]),
    ("LE BRUN", []), ("lebrun anne", []), ("morel", ["paul", "pauline"]),
    ("Pauline Morel", ["paul", "pauline"]), ("", []),  # as before: the flow then asks again
])
def test_birth_date_and_said_name_as_the_phone_flow_asks(
    db: Database, said: str, expected: list[str]
) -> None:
    practice = make_practice(db)
    with db.session() as s:
        d = PatientDirectory(s)
        for first, last, born in (("Anne", "Lebrun", date(1961, 4, 23)),
                                  ("Paul", "Morel", date(1961, 4, 23)),
                                  ("Pauline", "Morel", date(1961, 4, 23)),
                                  ("Hugo", "Lebrun", date(1990, 1, 1))):
            d.add(practice, first_name=first, last_name=last, birth_date=born, actor="staff:t")
    with db.session() as s:
        found = PatientDirectory(s).find_by_birth_date_and_name(practice, date(1961, 4, 23), said)
        assert sorted(p.first_name.lower() for p in found) == expected


def test_a_copy_of_an_erased_patient_no_longer_opens(db: Database) -> None:
    practice = make_practice(db)
    a_id, b_id = _add_two(db, practice)
    with db.engine.connect() as conn:  # a copy made before the erasure (backup, replica...)
        copy = conn.execute(text(
            "SELECT id, first_name_sealed, last_name_sealed, birth_date_sealed, phone_sealed "
            "FROM patients ORDER BY id")).all()
    seal = identity.cipher()
    assert seal.open("patients.last_name", bytes(copy[0][2])).text == "Dûpont-Laval"
    with db.session() as s:
        erase_patient(s, a_id, actor="staff:dpo", reason="request 7")
    for field, blob in zip(IDENTITY_FIELDS, copy[0][1:], strict=True):
        with pytest.raises(IdentityErased):
            seal.open(f"patients.{field}", bytes(blob))
    fresh = IdentityCipher(Keyring.load(seal.keyring.path))  # the keyring as saved
    with pytest.raises(IdentityErased):
        fresh.open("patients.first_name", bytes(copy[0][1]))
    assert fresh.open("patients.last_name", bytes(copy[1][2])) == identity.RowBound(
        b_id, "Martin")


def test_blind_index_rotation_recomputes_every_index(db: Database,
                                                     installed_keyring: Keyring) -> None:
    practice = make_practice(db)
    a_id, b_id = _add_two(db, practice)
    with db.engine.connect() as conn:
        before = conn.execute(text("SELECT phone_index, last_name_index, full_name_index, "
                                   "name_birth_index FROM patients ORDER BY id")).all()
    new_key = installed_keyring.begin_blind_index_rotation()
    with db.session() as s:
        assert PatientDirectory(s).reindex_all(IdentityCipher(installed_keyring,
                                                              blind_index_key=new_key)) == 2
    installed_keyring.finish_blind_index_rotation()
    identity.install(Keyring.load(installed_keyring.path))
    with db.engine.connect() as conn:
        after = conn.execute(text("SELECT phone_index, last_name_index, full_name_index, "
                                  "name_birth_index FROM patients ORDER BY id")).all()
    old = {v for row in before for v in row if v}
    assert old and not old & {v for row in after for v in row if v}
    with db.session() as s:
        d = PatientDirectory(s)
        assert [p.id for p in d.find_by_phone(practice, "0612345678")] == [a_id]
        assert [p.id for p in d.find_by_name(practice, "dupont-laval", "eloise")] == [a_id]
        assert [p.id for p in d.find_by_name(practice, "martin")] == [b_id]
        assert [p.id for p in d.find_by_birth_date_and_name(
            practice, date(1970, 1, 1), "Marc Martin")] == [b_id]
