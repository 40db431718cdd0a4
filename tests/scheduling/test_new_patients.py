"""New patients by phone, on SQLite and PostgreSQL: the provisional record "à confirmer",
who may book what, families sharing a number, withheld numbers, confirm and merge; and a
second visit of the same type within the practice's window."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from scheduling import practice_profile, rules
from scheduling.values import Booked, Channel, Reason
from storage import new_patients
from storage.models import Appointment, AuditEvent, Patient
from storage.patients import PatientDirectory, UnknownPatient
from tests.scheduling.conftest import IVR, NOW, READ, STAFF, Practice
from tests.scheduling.test_booking import first_slot, hold, refused

CALL = "ivr:call-new-1"


def provisional(practice: Practice, first: str = "Zoé", last: str = "Nouvelle",
                born: date = date(1995, 5, 5), phone: str | None = "06 39 98 00 50") -> int:
    with practice.db.session() as session:
        record = new_patients.create_provisional_patient(
            session, practice.id, first_name=first, last_name=last, birth_date=born,
            phone=phone, actor=CALL)
        return record.id


def actions(practice: Practice, patient_id: int) -> list[str]:
    with practice.db.session() as session:
        return list(session.scalars(select(AuditEvent.action).where(
            AuditEvent.patient_id == patient_id).order_by(AuditEvent.seq)))


def test_a_provisional_patient_is_sealed_audited_and_waits_for_confirmation(
        practice: Practice) -> None:
    patient_id = provisional(practice)
    with practice.db.session() as session:
        raw = session.execute(text("SELECT last_name_sealed, phone_sealed FROM patients "
                                   "WHERE id = :id"), {"id": patient_id}).one()
        assert b"Nouvelle" not in bytes(raw[0]) and b"0639980050" not in bytes(raw[1])
        assert new_patients.is_provisional(session, patient_id)
        (waiting,) = new_patients.provisional_patients(session, practice.id)
        assert (waiting.last_name, waiting.phone) == ("Nouvelle", "+33639980050")
        assert not new_patients.is_provisional(session, practice.known_patient)
    assert actions(practice, patient_id) == ["patient.create"]
    with practice.db.session() as session:
        new_patients.confirm_patient(session, patient_id, actor=STAFF)
        assert new_patients.provisional_ids(session, practice.id) == []
        with pytest.raises(new_patients.NotProvisional):
            new_patients.confirm_patient(session, patient_id, actor=STAFF)
    assert actions(practice, patient_id) == ["patient.create", "patient.confirm"]


def test_a_family_shares_one_number_and_a_withheld_number_works(practice: Practice) -> None:
    shared = "0639980001"  # the known patient's number
    child = provisional(practice, "Léo", "Connue", date(2015, 1, 1), phone=shared)
    partner = provisional(practice, "Paul", "Martin", date(1979, 9, 9), phone=shared)
    hidden = provisional(practice, "Inès", "Secret", date(1990, 4, 4), phone=None)
    with practice.db.session() as session:
        found = {r.id for r in PatientDirectory(session).find_by_phone(practice.id, shared)}
        assert found == {practice.known_patient, child, partner}
        assert PatientDirectory(session).get(hidden).phone is None
    for patient_id, key in ((child, "fam-1"), (hidden, "fam-2")):
        slot = first_slot(practice, "premiere", new_patient=True)
        booked = practice.agenda.confirm(hold(practice, slot), patient_id, key, now=NOW,
                                         actor=CALL)
        assert isinstance(booked, Booked), booked


def test_new_patients_book_only_open_visit_types_with_doctors_who_take_them(
        practice: Practice) -> None:
    patient_id = provisional(practice)
    refused(practice.agenda.find_slots(practice.id, "consultation", new_patient=True, now=NOW),
            Reason.NEW_PATIENTS_NOT_ACCEPTED)
    with practice.db.session() as session:
        practice_profile.set_practitioner_options(session, practice.dr_a,
                                                  accepts_new_patients=False, actor=STAFF)
    slots = practice.agenda.find_slots(practice.id, "premiere", new_patient=True, now=NOW,
                                       limit=5)
    assert slots and {s.practitioner_id for s in slots} == {practice.dr_b}
    refused(practice.agenda.find_slots(practice.id, "premiere", practitioner="dr-a",
                                       new_patient=True, now=NOW),
            Reason.NEW_PATIENTS_NOT_ACCEPTED)
    with_a = first_slot(practice, "premiere", practitioner="dr-a")
    held = hold(practice, with_a)
    refused(practice.agenda.confirm(held, patient_id, "np-1", now=NOW, actor=CALL),
            Reason.NEW_PATIENTS_NOT_ACCEPTED)
    practice.agenda.release(held, actor=CALL)
    staff = practice.agenda.book(with_a, patient_id, "np-2", now=NOW, actor=STAFF,
                                 by=Channel.STAFF)  # the secretary may, the doctor agreed
    assert isinstance(staff, Booked), staff
    with practice.db.session() as session:
        practice_profile.update_profile(session, practice.id, {"accepts_new_patients": False},
                                        actor=STAFF)
    refused(practice.agenda.find_slots(practice.id, "premiere", new_patient=True, now=NOW),
            Reason.NEW_PATIENTS_NOT_ACCEPTED)
    # a known patient is not concerned
    assert practice.agenda.find_slots(practice.id, "consultation", now=NOW)


def test_merging_moves_everything_to_the_known_patient_and_erases_the_new_record(
        practice: Practice) -> None:
    patient_id = provisional(practice, "Alice", "CONNUE", date(1980, 1, 1))
    booked = practice.agenda.confirm(
        hold(practice, first_slot(practice, "premiere", new_patient=True)), patient_id,
        "merge-1", now=NOW, actor=CALL)
    assert isinstance(booked, Booked)
    with practice.db.session() as session:
        record = PatientDirectory(session).get(patient_id)
        assert [m.id for m in new_patients.possible_matches(session, record)] == [
            practice.known_patient]
        new_patients.merge_patient(session, patient_id, practice.known_patient, actor=STAFF)
    with practice.db.session() as session:
        moved = session.get_one(Appointment, booked.appointment.id)
        assert moved.patient_id == practice.known_patient
        assert session.get_one(Patient, patient_id).erased_at is not None
        with pytest.raises(UnknownPatient):
            PatientDirectory(session).get(patient_id)
        merge = session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.merge"))
        assert merge.patient_id == practice.known_patient
        assert json.loads(merge.detail)["moved"]["appointments"] == 1
    upcoming = practice.agenda.upcoming(practice.known_patient, now=NOW, **READ)
    assert [a.id for a in upcoming] == [booked.appointment.id]


def test_a_second_visit_of_the_same_type_within_the_window_is_refused_by_phone(
        practice: Practice) -> None:
    first = first_slot(practice, practitioner="dr-a")
    booked = practice.agenda.confirm(hold(practice, first), practice.known_patient, "d-1",
                                     now=NOW, actor=IVR)
    assert isinstance(booked, Booked)
    soon = first_slot(practice, after=first.ends_at + timedelta(days=2))
    assert isinstance(practice.agenda.confirm(hold(practice, soon), practice.known_patient,
                                              "d-0", now=NOW, actor=IVR), Booked)  # window off
    practice.agenda.cancel(practice.agenda.upcoming(practice.known_patient, now=NOW, **READ)
                           [-1].id, actor=STAFF, by=Channel.STAFF)
    with practice.db.session() as session:
        practice_profile.update_profile(session, practice.id, {"duplicate_window_days": 7},
                                        actor=STAFF)
    held = hold(practice, soon)
    result = practice.agenda.confirm(held, practice.known_patient, "d-2", now=NOW, actor=IVR)
    refused(result, Reason.DUPLICATE_VISIT)
    practice.agenda.release(held, actor=IVR)
    assert "within 7 days" in result.detail
    later = first_slot(practice, after=first.starts_at + timedelta(days=8))
    assert isinstance(practice.agenda.confirm(hold(practice, later), practice.known_patient,
                                              "d-3", now=NOW, actor=IVR), Booked)
    other_type = first_slot(practice, "premiere", after=first.ends_at + timedelta(days=1))
    assert isinstance(practice.agenda.confirm(hold(practice, other_type),
                                              practice.known_patient, "d-4", now=NOW,
                                              actor=IVR), Booked)
    staff = practice.agenda.book(soon, practice.known_patient, "d-5", now=NOW, actor=STAFF,
                                 by=Channel.STAFF)
    assert isinstance(staff, Booked)  # the secretary decides

    # the flow asks before proposing times, from the appointments it reads back
    upcoming = practice.agenda.upcoming(practice.known_patient, now=NOW, **READ)
    assert rules.duplicate_visit(upcoming, "consultation", 7, now=NOW).id == \
        booked.appointment.id
    assert rules.duplicate_visit(upcoming, "vaccination", 7, now=NOW) is None
    assert rules.duplicate_visit(upcoming, "consultation", 0, now=NOW) is None
    assert rules.duplicate_refusal(upcoming, "consultation", 7, now=NOW).reason is \
        Reason.DUPLICATE_VISIT
