"""Erasure of one patient: objects shredded, appointments gone, identity destroyed,
audit events kept under a pseudonym and still verifiable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from storage import audit
from storage.db import Database
from storage.erasure import ErasureRefused, erase_patient
from storage.identity import IdentityCipher
from storage.keyring import Keyring
from storage.models import (
    Appointment,
    AuditEvent,
    ObjectKind,
    Patient,
    Practitioner,
    SlotCell,
    VisitType,
)
from storage.patients import IDENTITY_FIELDS, INDEX_COLUMNS, PatientDirectory, UnknownPatient
from storage.vault import Vault, VaultError
from tests.storage.identity_helpers import make_practice

START = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


def _setup(db: Database) -> tuple[int, int, int]:
    practice = make_practice(db)
    with db.session() as s:
        doctor = Practitioner(practice_id=practice, slug="dr", display_name="Dr A")
        visit = VisitType(practice_id=practice, code="c", label="C", duration_minutes=10)
        s.add_all([doctor, visit])
        d = PatientDirectory(s)
        erased = d.add(practice, first_name="Jeanne", last_name="Erasmé",
                       birth_date=date(1990, 5, 6), phone="0611111111", actor="staff:test")
        kept = d.add(practice, first_name="Paul", last_name="Gardé",
                     birth_date=date(1980, 1, 2), phone="0622222222", actor="staff:test")
        s.flush()
        for n, patient in enumerate((erased, kept, erased)):
            starts = START + timedelta(hours=n)
            booking = Appointment(practice_id=practice, practitioner_id=doctor.id,
                                  patient_id=patient.id, visit_type_id=visit.id,
                                  starts_at=starts, ends_at=starts + timedelta(minutes=10))
            s.add(booking)
            s.flush()
            s.add_all([SlotCell(practitioner_id=doctor.id, cell_start=starts + timedelta(
                minutes=5 * k), appointment_id=booking.id) for k in range(2)])
        for patient in (erased, kept):
            audit.record(s, actor="staff:ana", action="patient.read", object_type="patient",
                         object_id=None, purpose="booking", patient_id=patient.id,
                         practice_id=practice)
    return practice, erased.id, kept.id


def test_erasure_removes_everything_but_a_pseudonymous_trail(
    db: Database, vault: Vault, keyring: Keyring
) -> None:
    practice, erased, kept = _setup(db)
    objects = [vault.put(ObjectKind.VOICEMAIL, b"bonjour " * 100, practice_id=practice,
                         patient_id=erased) for _ in range(2)]
    other = vault.put(ObjectKind.VOICEMAIL, b"autre", practice_id=practice, patient_id=kept)
    with db.session() as s:
        report = erase_patient(s, erased, "staff:dpo", "GDPR request 2030-17", vault=vault)
    assert (report.objects_shredded, report.appointments_removed) == (2, 2)
    pseudonym = IdentityCipher(keyring).patient_pseudonym(erased)
    assert report.patient_ref == pseudonym
    for object_id in objects:
        with pytest.raises(VaultError, match="destroyed"):
            vault.open(object_id)
    assert vault.read(other) == b"autre"
    with db.session() as s:
        d = PatientDirectory(s)
        with pytest.raises(UnknownPatient):
            d.get(erased)
        assert d.find_by_phone(practice, "0611111111") == []
        assert d.find_by_name(practice, "Erasmé") == []
        assert d.get(kept).last_name == "Gardé"
        row = s.execute(text("SELECT * FROM patients WHERE id = :i"), {"i": erased}).mappings()
        tomb = dict(row.one())
        assert all(tomb[f"{f}_sealed"] is None for f in IDENTITY_FIELDS)
        assert all(tomb[column] is None for column in INDEX_COLUMNS)
        assert tomb["code"] == f"~{erased}" and tomb["erased_at"] is not None
        assert s.scalar(select(func.count()).select_from(Appointment)) == 1
        assert s.scalar(select(func.count()).select_from(SlotCell)) == 2
        assert s.scalar(select(func.count()).where(AuditEvent.patient_id == erased)) == 0
        trail = list(s.scalars(select(AuditEvent).where(AuditEvent.patient_ref == pseudonym)
                               .order_by(AuditEvent.seq)))
        assert [e.action for e in trail] == [
            "patient.create", "patient.read", "voicemail.shred", "voicemail.shred",
            "patient.erase"]
        assert trail[-1].actor == "staff:dpo" and trail[-1].purpose == "GDPR request 2030-17"
        assert s.scalar(select(func.count()).where(AuditEvent.patient_id == kept)) == 2
        assert audit.verify(s, keyring).intact
        newcomer = d.add(practice, first_name="N", last_name="New", birth_date=date(2001, 1, 1),
                         actor="staff:test")
        assert newcomer.id != erased  # the tombstone keeps the id from being reused
        assert s.get(Patient, erased) is not None


def test_refused_without_vault_when_objects_exist(db: Database, vault: Vault) -> None:
    practice, erased, _ = _setup(db)
    vault.put(ObjectKind.RECORDING, b"x", practice_id=practice, patient_id=erased)
    with pytest.raises(ErasureRefused, match="no vault was given"), db.session() as s:
        erase_patient(s, erased, "staff:dpo", "request")
    with db.session() as s:
        assert PatientDirectory(s).get(erased).first_name == "Jeanne"


def test_erasing_twice_or_without_reason_is_refused(db: Database, keyring: Keyring) -> None:
    _, erased, _ = _setup(db)
    with db.session() as s, pytest.raises(ValueError, match="reason"):
        erase_patient(s, erased, "staff:dpo", " ")
    with db.session() as s:
        assert erase_patient(s, erased, "staff:dpo", "request").objects_shredded == 0
    with db.session() as s, pytest.raises(UnknownPatient):
        erase_patient(s, erased, "staff:dpo", "request")
