"""The flows' patients service over storage's patient directory, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from ivr_flows.patient_lookup import PatientLookup
from tests.flows.conftest import CAMILLE_PHONE, Demo

CAMILLE_BORN = date(1984, 3, 12)


def test_lookups_of_a_caller(demo_any: Demo) -> None:
    patients = PatientLookup(demo_any.db)
    practice = demo_any.practice_id
    (by_phone,) = patients.by_phone(practice, CAMILLE_PHONE)
    assert by_phone.code == "100001"
    assert patients.by_phone(practice, "06 39 98 00 01") == [by_phone]  # any usual form
    assert patients.by_code(practice, "100001") == by_phone
    assert patients.by_code(practice, "999999") is None
    for said in ("Rousseau", "rousseau", "Camille Rousseau", "madame ROUSSEAU"):
        assert patients.by_birth_date_and_name(practice, CAMILLE_BORN, said) == [by_phone], said
    assert patients.by_birth_date_and_name(practice, CAMILLE_BORN, "Dupont") == []
    assert patients.by_birth_date_and_name(practice, date(1984, 3, 13), "Rousseau") == []
    assert patients.by_phone(practice + 1000, CAMILLE_PHONE) == []  # another practice's
