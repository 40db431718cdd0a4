"""Every change of the agenda and every read of a patient's appointments leaves exactly one
audit event, written in the change's transaction; refusals and replays leave none.
On SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from scheduling.practices import add_closure, apply_practice, parse_practice, set_weekly_opening
from scheduling.values import Booked, Cancelled, Channel, Held, Reason, Refused, Rescheduled, Slot
from storage import audit
from storage.db import Database
from storage.identity import cipher
from storage.models import AuditEvent, ExceptionKind
from tests.scheduling.conftest import IVR, NOW, PRACTICE, READ, STAFF, Practice, table_counts

TTL = timedelta(minutes=3)
IDENTITY = ("Alice", "Connue", "1980-01-01", "0639980001", "+33639980001")


@dataclass(frozen=True)
class Event:
    actor: str
    action: str
    object_type: str
    object_id: str | None
    patient_id: int | None
    practice_id: int | None
    detail: str
    purpose: str


def last_seq(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0)))


def events_since(db: Database, seq: int) -> list[Event]:
    """The events appended after ``seq``, in order; the chain must still verify."""
    with db.session() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.seq > seq)
                               .order_by(AuditEvent.seq))
        found = [Event(r.actor, r.action, r.object_type, r.object_id, r.patient_id,
                       r.practice_id, r.detail, r.purpose) for r in rows]
        check = audit.verify(session, cipher().keyring)
    assert check.intact, check.problems
    for event in found:
        assert not any(value in repr(event) for value in IDENTITY), event
    return found


def actions(events: list[Event]) -> list[str]:
    return [e.action for e in events]


def slot(practice: Practice, visit: str = "consultation", **kwargs: object) -> Slot:
    kwargs.setdefault("now", NOW)
    found = practice.agenda.find_slots(practice.id, visit, **kwargs)
    assert isinstance(found, list) and found
    return found[0]


def test_hold_and_confirm_are_audited_once_and_a_replay_adds_nothing(
    practice: Practice,
) -> None:
    agenda, db = practice.agenda, practice.db
    mark = last_seq(db)
    held = agenda.hold(slot(practice, practitioner="dr-a"), TTL, actor=IVR, now=NOW)
    assert isinstance(held, Held)
    [hold_event] = events_since(db, mark)
    assert (hold_event.actor, hold_event.action, hold_event.object_type) == (
        IVR, "hold.create", "hold")
    assert (hold_event.object_id, hold_event.patient_id, hold_event.practice_id) == (
        held.hold.id, None, practice.id)

    mark = last_seq(db)
    booked = agenda.confirm(held.hold.id, practice.known_patient, "call-1", actor=IVR,
                            purpose="booked by the caller", now=NOW)
    assert isinstance(booked, Booked)
    again = agenda.confirm(held.hold.id, practice.known_patient, "call-1", actor=IVR, now=NOW)
    assert again == booked
    [book_event] = events_since(db, mark)
    assert book_event == Event(
        IVR, "appointment.book", "appointment", str(booked.appointment.id),
        practice.known_patient, practice.id, book_event.detail, "booked by the caller")
    assert held.hold.id in book_event.detail


def test_refusals_and_failed_changes_leave_no_event(practice: Practice) -> None:
    agenda, db = practice.agenda, practice.db
    taken = slot(practice)
    held = agenda.hold(taken, TTL, actor=IVR, now=NOW)
    assert isinstance(held, Held)
    booked = agenda.confirm(held.hold.id, practice.known_patient, "k1", actor=IVR, now=NOW)
    assert isinstance(booked, Booked)
    appointment = booked.appointment.id
    mark, before = last_seq(db), table_counts(db)

    def refused(result: object, reason: Reason) -> None:
        assert isinstance(result, Refused) and result.reason is reason, result

    refused(agenda.hold(taken, TTL, actor=IVR, now=NOW), Reason.SLOT_TAKEN)
    refused(agenda.book(taken, practice.other_patient, "k2", actor=STAFF, now=NOW),
            Reason.SLOT_TAKEN)
    refused(agenda.confirm("no-such-hold", practice.known_patient, "k3", actor=IVR, now=NOW),
            Reason.HOLD_EXPIRED)
    refused(agenda.cancel(appointment, actor=IVR, now=taken.starts_at - timedelta(hours=1)),
            Reason.TOO_LATE_TO_CANCEL)
    refused(agenda.cancel(appointment, actor=IVR, now=NOW, patient_id=practice.other_patient),
            Reason.UNKNOWN_APPOINTMENT)
    refused(agenda.reschedule(appointment, "no-such-hold", "k4", actor=STAFF, now=NOW,
                              by=Channel.STAFF), Reason.HOLD_EXPIRED)
    agenda.release("no-such-hold", actor=IVR)
    assert agenda.expire_holds(NOW) == 0
    # a booking that fails on its audit event (no actor worth the name) changes nothing
    with pytest.raises(ValueError, match="actor"):
        agenda.hold(slot(practice), TTL, actor="somebody", now=NOW)
    assert events_since(db, mark) == []
    assert table_counts(db) == before


def test_an_expired_hold_is_not_silently_dropped_by_a_refused_confirm(
    practice: Practice,
) -> None:
    agenda, db = practice.agenda, practice.db
    held = agenda.hold(slot(practice), TTL, actor=IVR, now=NOW)
    assert isinstance(held, Held)
    later = NOW + TTL + timedelta(seconds=1)
    mark = last_seq(db)
    refused = agenda.confirm(held.hold.id, practice.known_patient, "late", actor=IVR, now=later)
    assert isinstance(refused, Refused) and refused.reason is Reason.HOLD_EXPIRED
    assert events_since(db, mark) == []
    assert agenda.expire_holds(later) == 1  # the sweep removes it, and says so
    [expired] = events_since(db, mark)
    assert (expired.actor, expired.action, expired.practice_id) == (
        "system:hold-expiry", "hold.expire", practice.id)
    assert held.hold.id in expired.detail and '"holds":1' in expired.detail
    assert agenda.expire_holds(later) == 0
    assert len(events_since(db, mark)) == 1


def test_release_cancel_and_reschedule_each_leave_one_event(practice: Practice) -> None:
    agenda, db = practice.agenda, practice.db
    first = slot(practice, practitioner="dr-a", after=NOW + timedelta(days=2))
    held = agenda.hold(first, TTL, actor=IVR, now=NOW)
    assert isinstance(held, Held)
    mark = last_seq(db)
    agenda.release(held.hold.id, actor=IVR)
    agenda.release(held.hold.id, actor=IVR)  # twice is harmless, and not a change
    assert [(e.action, e.object_id) for e in events_since(db, mark)] == [
        ("hold.release", held.hold.id)]

    mark = last_seq(db)
    booked = agenda.book(first, practice.known_patient, "staff-1", actor=STAFF, now=NOW)
    assert isinstance(booked, Booked)
    assert actions(events_since(db, mark)) == ["hold.create", "appointment.book"]
    old = booked.appointment.id

    mark = last_seq(db)
    target = slot(practice, practitioner="dr-b", after=NOW + timedelta(days=4))
    moved = agenda.reschedule(old, target, "move-1", actor=IVR, now=NOW,
                              patient_id=practice.known_patient)
    assert isinstance(moved, Rescheduled)
    assert agenda.reschedule(old, target, "move-1", actor=IVR, now=NOW) == moved  # replay
    [move] = events_since(db, mark)
    assert (move.action, move.object_id, move.patient_id, move.practice_id) == (
        "appointment.move", str(old), practice.known_patient, practice.id)
    assert f'"to_appointment_id":{moved.new.id}' in move.detail

    mark = last_seq(db)
    via_hold = agenda.hold(slot(practice, practitioner="dr-a", after=NOW + timedelta(days=6)),
                           TTL, actor=IVR, now=NOW)
    assert isinstance(via_hold, Held)
    again = agenda.reschedule(moved.new.id, via_hold.hold.id, "move-2", actor=IVR, now=NOW)
    assert isinstance(again, Rescheduled)
    assert actions(events_since(db, mark)) == ["hold.create", "appointment.move"]

    mark = last_seq(db)
    done = agenda.cancel(again.new.id, actor="staff:ana", purpose="patient phoned the desk",
                         by=Channel.STAFF, now=NOW)
    assert isinstance(done, Cancelled)
    [cancel] = events_since(db, mark)
    assert cancel == Event("staff:ana", "appointment.cancel", "appointment", str(again.new.id),
                           practice.known_patient, practice.id, cancel.detail,
                           "patient phoned the desk")


def test_reads_of_a_patients_appointments_are_audited(practice: Practice) -> None:
    agenda, db = practice.agenda, practice.db
    booked = agenda.book(slot(practice, after=NOW + timedelta(days=2)), practice.known_patient,
                         "r1", actor=STAFF, now=NOW)
    assert isinstance(booked, Booked)
    mark = last_seq(db)
    views = agenda.upcoming(practice.known_patient, now=NOW, practice=practice.id, **READ)
    assert [v.id for v in views] == [booked.appointment.id]
    assert agenda.upcoming(practice.new_patient, now=NOW, **READ) == []
    view = agenda.appointment(booked.appointment.id, **READ)
    assert view is not None and view.patient_id == practice.known_patient
    assert agenda.appointment(987_654, **READ) is None  # nothing read, nothing recorded
    found = events_since(db, mark)
    assert [(e.action, e.object_type, e.patient_id, e.actor, e.purpose) for e in found] == [
        ("patient.appointments.read", "patient", practice.known_patient, READ["actor"],
         READ["purpose"]),
        ("patient.appointments.read", "patient", practice.new_patient, READ["actor"],
         READ["purpose"]),
        ("appointment.read", "appointment", practice.known_patient, READ["actor"],
         READ["purpose"]),
    ]
    assert found[0].object_id is None and found[2].object_id == str(booked.appointment.id)
    with pytest.raises(ValueError, match="purpose"):
        agenda.upcoming(practice.known_patient, actor=IVR, purpose=" ", now=NOW)
    assert len(events_since(db, mark)) == 3


def test_admin_changes_are_audited_and_a_rolled_back_one_leaves_nothing(
    practice: Practice,
) -> None:
    db = practice.db
    paris = ZoneInfo("Europe/Paris")
    mark = last_seq(db)
    with db.session() as session:
        apply_practice(session, parse_practice(PRACTICE), actor=STAFF)  # nothing changes
    assert events_since(db, mark) == []

    renamed = {**PRACTICE, "name": "Cabinet des Tilleuls"}
    with db.session() as session:
        apply_practice(session, parse_practice(renamed), actor=STAFF, purpose="new sign")
        set_weekly_opening(session, practice.dr_b, [(0, time(9), time(12))], actor=STAFF)
        closure = add_closure(session, practice.id, ExceptionKind.ABSENCE,
                              datetime(2030, 1, 8, tzinfo=paris),
                              datetime(2030, 1, 9, tzinfo=paris), practitioner="dr-b",
                              label="congrès", now=NOW, actor=STAFF)
        closure_id = closure.id
    found = events_since(db, mark)
    assert [(e.action, e.object_id, e.practice_id) for e in found] == [
        ("practice.update", str(practice.id), practice.id),
        ("opening_hours.update", str(practice.dr_b), practice.id),
        ("closure.create", str(closure_id), practice.id),
    ]
    assert found[0].detail == '{"fields":["name"]}' and found[0].purpose == "new sign"
    assert "congrès" not in found[2].detail

    mark, before = last_seq(db), table_counts(db)
    with pytest.raises(RuntimeError), db.session() as session:
        add_closure(session, practice.id, ExceptionKind.HOLIDAY,
                    datetime(2030, 2, 1, tzinfo=paris), datetime(2030, 2, 2, tzinfo=paris),
                    now=NOW, actor=STAFF)
        raise RuntimeError("the rest of the change failed")
    assert events_since(db, mark) == []
    assert table_counts(db) == before
