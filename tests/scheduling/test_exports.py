"""iCalendar and FHIR R4 exports, parsed back by their libraries; no patient identity leaks."""

from __future__ import annotations

import json
from datetime import timedelta

from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.schedule import Schedule as FhirSchedule
from fhir.resources.R4B.slot import Slot as FhirSlot
from icalendar import Calendar

from scheduling import exports
from scheduling.values import Booked, Channel, Held
from tests.scheduling.conftest import IVR, NOW, READ, Practice


def _book_two(practice: Practice) -> tuple[int, int]:
    ids = []
    for key, days in (("one", 2), ("two", 3)):
        slot = practice.agenda.find_slots(practice.id, "consultation", practitioner="dr-a",
                                          after=NOW + timedelta(days=days), now=NOW)[0]
        held = practice.agenda.hold(slot, timedelta(minutes=3), now=NOW, actor=IVR)
        assert isinstance(held, Held)
        booked = practice.agenda.confirm(held.hold.id, practice.known_patient, key, now=NOW,
                                         actor=IVR)
        assert isinstance(booked, Booked)
        ids.append(booked.appointment.id)
    return ids[0], ids[1]


def test_ical_feed_of_a_practitioner(practice: Practice) -> None:
    kept, cancelled = _book_two(practice)
    practice.agenda.cancel(cancelled, now=NOW, by=Channel.STAFF, actor="staff:test-secretary")
    feed = exports.practitioner_ical(practice.agenda, practice.id, "dr-a", NOW,
                                     NOW + timedelta(days=30), now=NOW)
    for identity in (b"Alice", b"Connue", b"1980", b"0639980001", b"+33639980001"):
        assert identity not in feed
    calendar = Calendar.from_ical(feed)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {f"appointment-{kept}@telesec.invalid",
                           f"appointment-{cancelled}@telesec.invalid"}
    event = events[f"appointment-{kept}@telesec.invalid"]
    assert str(event["SUMMARY"]) == f"Consultation (RDV {kept})"
    assert str(event["STATUS"]) == "CONFIRMED"
    view = practice.agenda.appointment(kept, **READ)
    assert event.decoded("DTSTART") == view.starts_at
    assert event.decoded("DTEND") == view.ends_at
    assert str(events[f"appointment-{cancelled}@telesec.invalid"]["STATUS"]) == "CANCELLED"
    assert practice.agenda.appointments_between(practice.id, NOW, NOW + timedelta(days=30),
                                                practitioner="dr-b") == []


def test_fhir_resources_validate(practice: Practice) -> None:
    kept, _ = _book_two(practice)
    info = practice.agenda.practice_info(practice.id)
    doctor = next(p for p in info.practitioners if p.slug == "dr-a")

    schedule_json = json.dumps(exports.fhir_schedule(doctor, info.name))
    schedule = FhirSchedule.model_validate_json(schedule_json)
    assert schedule.actor[0].reference == f"Practitioner/{doctor.id}"

    free = practice.agenda.find_slots(practice.id, "consultation", practitioner="dr-a", now=NOW)
    slot = FhirSlot.model_validate_json(json.dumps(exports.fhir_slot(free[0])))
    assert slot.status == "free"
    assert slot.schedule.reference == f"Schedule/{schedule.id}"
    assert slot.start == free[0].starts_at and slot.end == free[0].ends_at

    view = practice.agenda.appointment(kept, **READ)
    data = exports.fhir_appointment(view)
    assert "Alice" not in json.dumps(data)
    appointment = FhirAppointment.model_validate_json(json.dumps(data))
    assert appointment.status == "booked" and appointment.minutesDuration == 20
    assert {p.actor.reference for p in appointment.participant} == {
        f"Practitioner/{doctor.id}", f"Patient/{practice.known_patient}"}
