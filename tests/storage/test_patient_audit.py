"""PatientDirectory audits its changes (create, update, erase) in the caller's transaction,
with the patient as a pseudonym and no identity in the event. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from storage import audit
from storage.db import Database
from storage.erasure import erase_patient
from storage.identity import cipher
from storage.models import AuditEvent, Patient
from storage.patients import PatientDirectory
from tests.storage.identity_helpers import make_practice

IDENTITY = ("Éloïse", "Dûpont", "1984-02-29", "0612345678", "+33612345678", "Martín")


def trail(db: Database) -> list[AuditEvent]:
    """Every audit event, in order, after checking that the chain verifies."""
    with db.session() as session:
        found = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        check = audit.verify(session, cipher().keyring)
    assert check.intact, check.problems
    for event in found:
        text = " ".join(str(v) for v in (event.actor, event.action, event.object_type,
                                         event.object_id, event.purpose, event.detail))
        assert not any(value in text for value in IDENTITY), text
    return found


def test_add_update_and_erase_each_leave_one_event(db: Database) -> None:
    practice = make_practice(db)
    with db.session() as s:
        patient = PatientDirectory(s).add(
            practice, first_name="Éloïse", last_name="Dûpont", birth_date=date(1984, 2, 29),
            phone="06 12 34 56 78", actor="staff:ana")
    with db.session() as s:
        directory = PatientDirectory(s)
        directory.update(patient.id, actor="staff:ana", purpose="the patient moved",
                         phone="07 00 00 00 01", last_name="Martín")
        directory.update(patient.id, actor="staff:ana")  # nothing given, nothing changed
    with db.session() as s:
        erase_patient(s, patient.id, "staff:dpo", "GDPR request 7")

    events = trail(db)
    assert [(e.actor, e.action, e.object_type, e.object_id, e.practice_id) for e in events] == [
        ("staff:ana", "patient.create", "patient", None, practice),
        ("staff:ana", "patient.update", "patient", None, practice),
        ("staff:dpo", "patient.erase", "patient", None, practice),
    ]
    assert events[0].purpose == "register a patient"
    assert events[1].purpose == "the patient moved"
    assert events[1].detail == '{"fields":["last_name","phone"]}'
    pseudonym = cipher().patient_pseudonym(patient.id)
    assert {e.patient_ref for e in events} == {pseudonym}
    assert {e.patient_id for e in events} == {None}  # the erasure unlinked them


def test_a_refused_or_rolled_back_change_leaves_no_event(db: Database) -> None:
    practice = make_practice(db)
    with pytest.raises(ValueError, match="cannot be empty"), db.session() as s:
        PatientDirectory(s).add(practice, first_name=" ", last_name="Dûpont",
                                birth_date=date(1984, 2, 29), actor="staff:ana")
    with pytest.raises(RuntimeError), db.session() as s:
        PatientDirectory(s).add(practice, first_name="Éloïse", last_name="Dûpont",
                                birth_date=date(1984, 2, 29), actor="staff:ana")
        raise RuntimeError("the rest of the request failed")
    with pytest.raises(ValueError, match="actor"), db.session() as s:
        PatientDirectory(s).add(practice, first_name="Éloïse", last_name="Dûpont",
                                birth_date=date(1984, 2, 29), actor=" ")
    with db.session() as s:
        kept = PatientDirectory(s).add(practice, first_name="Éloïse", last_name="Dûpont",
                                       birth_date=date(1984, 2, 29), actor="staff:ana")
    with pytest.raises(ValueError, match="cannot update"), db.session() as s:
        PatientDirectory(s).update(kept.id, actor="staff:ana", code="123456")
    with db.session() as s:
        assert [p.id for p in s.scalars(select(Patient))] == [kept.id]
    assert [e.action for e in trail(db)] == ["patient.create"]


def test_changes_need_an_actor(db: Database) -> None:
    practice = make_practice(db)
    identity = {"first_name": "Éloïse", "last_name": "Dûpont", "birth_date": date(1984, 2, 29)}
    with pytest.raises(TypeError, match="actor"), db.session() as s:
        PatientDirectory(s).add(practice, **identity)  # type: ignore[call-arg, arg-type]
    assert trail(db) == []
