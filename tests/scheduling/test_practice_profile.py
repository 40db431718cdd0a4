"""A practice's profile: what its callers are told, stored, seeded, changed (audited)
and read by the flows (``ivr_flows.practice.load_practice``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ivr_flows.practice import load_practice
from scheduling import lookup, practice_profile
from scheduling.demo import seed_demo
from scheduling.errors import PracticeConfigError
from scheduling.practices import add_closure
from storage.db import Database
from storage.models import AuditEvent, ExceptionKind
from tests.scheduling.conftest import STAFF, Practice


def _events(db: Database, action: str) -> list[AuditEvent]:
    with db.session() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        session.expunge_all()
        return list(rows)


def test_a_practice_without_a_profile_reads_as_the_defaults(practice: Practice) -> None:
    with practice.db.session() as session:
        about = practice_profile.profile(session, practice.id)
    assert about.accepts_new_patients and about.pharmacy_number == "3237"
    assert about.duplicate_window_days == 0 and about.secretary_line is None
    info = load_practice(practice.db, practice.id)
    assert info.greeting_name == info.name == "Cabinet de test"
    assert info.samu_number == "15" and info.emergency_number == "112"
    assert info.settings == {} and info.new_patient_doctors == info.doctors


def test_the_demo_practice_is_seeded_with_its_profile_and_the_flows_read_it(
        db: Database) -> None:
    seed_demo(db)
    info = load_practice(db, "demo")
    assert info.greeting_name == "le cabinet médical des Tilleuls"
    assert info.address and "Villeurbanne" in info.address and "fauteuil" in info.access
    assert info.accepts_new_patients and info.sos_medecins_number == "3624"
    assert info.pharmacy_number == "3237" and info.duplicate_window_days == 0
    assert info.settings["secretaries"] == "sip:secretariat@127.0.0.1:5070"
    assert [d.slug for d in info.new_patient_doctors] == ["dr-moreau"]
    assert not info.doctor("dr-lambert").accepts_new_patients
    before = len(_events(db, "practice_profile.update"))
    seed_demo(db)  # a second seed changes nothing, so it writes nothing
    assert len(_events(db, "practice_profile.update")) == before == 1


def test_changing_the_profile_is_audited_with_the_field_names_only(
        practice: Practice) -> None:
    with practice.db.session() as session:
        about = practice_profile.update_profile(
            session, practice.id,
            {"address": "3 place du Marché, à Lyon", "accepts_new_patients": False,
             "alert_recipients": ["accueil@cabinet.invalid", "+33639980099"]},
            actor=STAFF)
    assert about.address == "3 place du Marché, à Lyon" and not about.accepts_new_patients
    assert about.alert_recipients == ("accueil@cabinet.invalid", "+33639980099")
    events = _events(practice.db, "practice_profile.update")
    assert len(events) == 1
    assert "Marché" not in events[0].detail and "cabinet.invalid" not in events[0].detail
    assert json.loads(events[0].detail) == {
        "fields": ["accepts_new_patients", "address", "alert_recipients"]}
    with practice.db.session() as session:  # the same values again: no event
        practice_profile.update_profile(session, practice.id,
                                        {"address": "3 place du Marché, à Lyon"}, actor=STAFF)
    assert len(_events(practice.db, "practice_profile.update")) == 1
    assert load_practice(practice.db, practice.id).new_patient_doctors == ()


@pytest.mark.parametrize(("changes", "problem"), [
    ({"secretary_line": "secretariat"}, "secretary_line: a SIP address"),
    ({"alert_recipients": ["0612345678"]}, "neither an e-mail address nor a number"),
    ({"duplicate_window_days": -1}, "duplicate_window_days"),
    ({"sos_medecins_number": "SOS"}, "sos_medecins_number: a phone number"),
    ({"colour": "blue"}, "unknown profile field 'colour'"),
])
def test_a_wrong_profile_value_is_refused_in_one_line(practice: Practice, changes: dict,
                                                      problem: str) -> None:
    with pytest.raises(PracticeConfigError) as refused, practice.db.session() as session:
        practice_profile.update_profile(session, practice.id, changes, actor=STAFF)
    assert problem in str(refused.value) and "\n" not in str(refused.value)


def test_doctor_options_are_audited_and_read_by_the_flows(practice: Practice) -> None:
    with practice.db.session() as session:
        practice_profile.set_practitioner_options(
            session, practice.dr_b, accepts_new_patients=False,
            alert_address="dr-b@cabinet.invalid", actor=STAFF)
        with pytest.raises(PracticeConfigError):
            practice_profile.set_practitioner_options(session, practice.dr_a,
                                                      alert_address="nope", actor=STAFF)
    info = load_practice(practice.db, practice.id)
    assert [d.id for d in info.new_patient_doctors] == [practice.dr_a]
    (event,) = _events(practice.db, "practitioner.update")
    assert "cabinet.invalid" not in event.detail


def test_a_practice_holiday_closes_today_and_moves_the_next_opening(
        practice: Practice) -> None:
    now = datetime(2030, 1, 7, 6, 0, tzinfo=UTC)  # Monday 07:00 in Paris
    with practice.db.session() as session:
        place = lookup.practice(session, practice.id)
        add_closure(session, place.id, ExceptionKind.HOLIDAY, now,
                    now + timedelta(days=1), now=now, actor=STAFF)
    info = load_practice(practice.db, practice.id, now=now)
    assert info.closures and info.hours_today(now) == []
    opens = info.next_opening(now)
    assert opens is not None and opens.isoformat() == "2030-01-08T09:00:00+01:00"
    assert not info.is_open(now + timedelta(hours=3))
