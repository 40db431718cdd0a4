"""Holds, confirmation, cancelling, moving and every refusal, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from scheduling.errors import IdempotencyKeyReused, InvalidSlot
from scheduling.values import Booked, Cancelled, Channel, Held, Reason, Refused, Rescheduled, Slot
from storage.models import Hold, SlotCell
from storage.patients import UnknownPatient
from tests.scheduling.conftest import IVR, NOW, READ, Practice, table_counts

TTL = timedelta(minutes=3)


def first_slot(practice: Practice, visit: str = "consultation", **kwargs: object) -> Slot:
    kwargs.setdefault("now", NOW)
    found = practice.agenda.find_slots(practice.id, visit, **kwargs)
    assert isinstance(found, list) and found
    return found[0]


def hold(practice: Practice, slot: Slot, **kwargs: object) -> str:
    kwargs.setdefault("now", NOW)
    held = practice.agenda.hold(slot, TTL, **kwargs, actor=IVR)
    assert isinstance(held, Held), held
    return held.hold.id


def book(practice: Practice, slot: Slot, patient: int | None = None, key: str = "k1") -> int:
    booked = practice.agenda.confirm(hold(practice, slot), patient or practice.known_patient,
                                     key, now=NOW, actor=IVR)
    assert isinstance(booked, Booked), booked
    return booked.appointment.id


def refused(result: object, reason: Reason) -> None:
    assert isinstance(result, Refused), result
    assert result.reason is reason
    assert result.detail


def test_hold_then_confirm_books_and_the_slot_disappears(practice: Practice) -> None:
    statements: list[str] = []

    def log(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if not statement.startswith(("BEGIN", "PRAGMA")):
            statements.append(statement)

    def count(step) -> int:  # type: ignore[no-untyped-def]
        statements.clear()
        result = step()
        steps.append(len(statements))
        return result

    steps: list[int] = []
    event.listen(Engine, "before_cursor_execute", log)
    try:
        slot = count(lambda: first_slot(practice, practitioner="dr-a"))
        held = count(lambda: practice.agenda.hold(slot, TTL, now=NOW, actor=IVR))
        assert isinstance(held, Held) and held.hold.slot == slot
        assert held.hold.expires_at == NOW + TTL
        assert first_slot(practice, practitioner="dr-a") != slot
        refused(practice.agenda.hold(slot, TTL, now=NOW, actor=IVR), Reason.SLOT_TAKEN)
        booked = count(lambda: practice.agenda.confirm(
            held.hold.id, practice.known_patient, "call-1", now=NOW, actor=IVR))
    finally:
        event.remove(Engine, "before_cursor_execute", log)
    # statements of search, hold and confirm (with the audit append): PostgreSQL writes
    # the hold with its cells, and the appointment with its cells and the hold's deletion,
    # each in one statement; SQLite in two and three
    postgres = practice.db.engine.dialect.name == "postgresql"
    assert steps == ([3, 6, 5] if postgres else [3, 8, 8])
    assert isinstance(booked, Booked)
    view = booked.appointment
    assert (view.starts_at, view.practitioner_id, view.status) == (
        slot.starts_at, practice.dr_a, "booked")
    assert view.booked_by == "phone"
    refused(practice.agenda.hold(slot, TTL, now=NOW, actor=IVR), Reason.SLOT_TAKEN)
    with practice.db.read_session() as session:  # the hold's cells are the appointment's
        owners = session.execute(select(SlotCell.appointment_id, SlotCell.hold_id).where(
            SlotCell.cell_start >= slot.starts_at, SlotCell.cell_start < slot.ends_at,
            SlotCell.practitioner_id == practice.dr_a)).all()
        assert owners == [(view.id, None)] * 4
        assert session.get(Hold, held.hold.id) is None


def test_same_idempotency_key_books_once(practice: Practice) -> None:
    slot = first_slot(practice)
    held = hold(practice, slot)
    first = practice.agenda.confirm(held, practice.known_patient, "call-7", now=NOW, actor=IVR)
    again = practice.agenda.confirm(held, practice.known_patient, "call-7", now=NOW, actor=IVR)
    assert isinstance(first, Booked) and first == again
    other = hold(practice, first_slot(practice))  # the key's booking, not a second one
    assert practice.agenda.confirm(other, practice.known_patient, "call-7", now=NOW,
                                   actor=IVR) == first
    assert table_counts(practice.db)["appointments"] == 3  # 2 past + 1
    with pytest.raises(IdempotencyKeyReused):
        practice.agenda.confirm(held, practice.other_patient, "call-7", now=NOW, actor=IVR)
    assert practice.agenda.key_used("call-7") and not practice.agenda.key_used("call-8")


def test_expired_holds_free_their_slot(practice: Practice) -> None:
    slot = first_slot(practice)
    held = hold(practice, slot)
    later = NOW + TTL + timedelta(seconds=1)
    assert first_slot(practice, now=later - timedelta(hours=0)) .starts_at <= slot.starts_at
    refused(practice.agenda.confirm(held, practice.known_patient, "k", now=later, actor=IVR),
            Reason.HOLD_EXPIRED)
    held_again = hold(practice, slot, now=later)  # someone else takes it
    assert held_again != held
    refused(practice.agenda.confirm(held, practice.known_patient, "k", now=later, actor=IVR),
            Reason.HOLD_EXPIRED)
    assert practice.agenda.expire_holds(later, actor=IVR) == 0
    assert practice.agenda.expire_holds(later + TTL, actor=IVR) == 1
    assert table_counts(practice.db)["slot_cells"] == 2 * 4  # only the past visits


def test_an_expired_hold_does_not_block_a_new_one_even_before_the_sweep(
    practice: Practice,
) -> None:
    slot = first_slot(practice)
    hold(practice, slot)
    refused(practice.agenda.hold(slot, TTL, now=NOW + timedelta(minutes=1), actor=IVR),
            Reason.SLOT_TAKEN)
    hold(practice, slot, now=NOW + TTL)


def test_release_gives_the_slot_back(practice: Practice) -> None:
    slot = first_slot(practice)
    held = hold(practice, slot)
    practice.agenda.release(held, actor=IVR)
    practice.agenda.release(held, actor=IVR)
    assert first_slot(practice) == slot
    refused(practice.agenda.confirm(held, practice.known_patient, "k", now=NOW, actor=IVR),
            Reason.HOLD_EXPIRED)


def test_booking_refusals(practice: Practice) -> None:
    slot = first_slot(practice)
    refused(practice.agenda.hold(slot, TTL, now=slot.starts_at, actor=IVR), Reason.IN_THE_PAST)
    refused(practice.agenda.hold(slot, TTL, now=slot.starts_at - timedelta(minutes=30), actor=IVR),
            Reason.TOO_SHORT_NOTICE)
    staff = practice.agenda.hold(slot, TTL, now=slot.starts_at - timedelta(minutes=30),
                                 by=Channel.STAFF, actor=IVR)
    assert isinstance(staff, Held)
    practice.agenda.release(staff.hold.id, actor=IVR)
    lunch = replace(slot, starts_at=slot.starts_at + timedelta(hours=4),
                    ends_at=slot.ends_at + timedelta(hours=4))  # 13:00
    refused(practice.agenda.hold(lunch, TTL, now=NOW, actor=IVR), Reason.OUTSIDE_OPENING_HOURS)
    surgery = first_slot(practice, "chirurgie", by=Channel.STAFF)
    refused(practice.agenda.hold(surgery, TTL, now=NOW, actor=IVR), Reason.NOT_BOOKABLE_BY_PHONE)
    refused(practice.agenda.confirm(hold(practice, slot), practice.new_patient, "new", now=NOW,
                                    actor=IVR),
            Reason.NEW_PATIENTS_NOT_ACCEPTED)
    first_visit = first_slot(practice, "premiere")
    booked = practice.agenda.confirm(hold(practice, first_visit), practice.new_patient, "new2",
                                     now=NOW, actor=IVR)
    assert isinstance(booked, Booked)


def test_bad_slots_and_patients_are_typed_errors(practice: Practice) -> None:
    slot = first_slot(practice)
    with pytest.raises(InvalidSlot):
        practice.agenda.hold(replace(slot, ends_at=slot.ends_at + timedelta(minutes=5)), TTL,
                             now=NOW, actor=IVR)
    with pytest.raises(InvalidSlot):
        practice.agenda.hold(replace(slot, starts_at=slot.starts_at + timedelta(minutes=1),
                                     ends_at=slot.ends_at + timedelta(minutes=1)), TTL, now=NOW,
                             actor=IVR)
    before = table_counts(practice.db)
    held = hold(practice, slot)
    with pytest.raises(UnknownPatient):
        practice.agenda.confirm(held, 999_999, "k", now=NOW, actor=IVR)
    practice.agenda.release(held, actor=IVR)
    assert table_counts(practice.db) == before


def test_cancel_rules(practice: Practice) -> None:
    slot = first_slot(practice)
    appointment = book(practice, slot)
    day_before = slot.starts_at - timedelta(hours=23)
    refused(practice.agenda.cancel(appointment, now=day_before, actor=IVR),
            Reason.TOO_LATE_TO_CANCEL)
    refused(practice.agenda.cancel(appointment, now=NOW, patient_id=practice.other_patient,
                                   actor=IVR),
            Reason.UNKNOWN_APPOINTMENT)
    refused(practice.agenda.cancel(424242, now=NOW, actor=IVR), Reason.UNKNOWN_APPOINTMENT)
    refused(practice.agenda.cancel(appointment, now=slot.starts_at, actor=IVR), Reason.IN_THE_PAST)
    done = practice.agenda.cancel(appointment, now=day_before, by=Channel.STAFF, actor=IVR)
    assert isinstance(done, Cancelled) and done.appointment.status == "cancelled"
    refused(practice.agenda.cancel(appointment, now=NOW, actor=IVR), Reason.ALREADY_CANCELLED)
    assert first_slot(practice) == slot  # freed
    assert practice.agenda.upcoming(practice.known_patient, now=NOW, **READ) == []


def test_cancel_by_phone_well_ahead(practice: Practice) -> None:
    slot = first_slot(practice, after=NOW + timedelta(days=3))
    appointment = book(practice, slot)
    done = practice.agenda.cancel(appointment, now=NOW, patient_id=practice.known_patient,
                                  actor=IVR)
    assert isinstance(done, Cancelled)


def test_reschedule_frees_the_old_time_only_when_the_new_one_is_taken(
    practice: Practice,
) -> None:
    old_slot = first_slot(practice, practitioner="dr-a", after=NOW + timedelta(days=2))
    old = book(practice, old_slot)
    target = first_slot(practice, practitioner="dr-b", after=NOW + timedelta(days=3))
    taken = practice.agenda.confirm(hold(practice, target), practice.other_patient, "other",
                                    now=NOW, actor=IVR)
    assert isinstance(taken, Booked)
    before = table_counts(practice.db)
    refused(practice.agenda.reschedule(old, target, "move-1", now=NOW, actor=IVR),
            Reason.SLOT_TAKEN)
    assert table_counts(practice.db) == before
    assert practice.agenda.appointment(old, **READ).status == "booked"
    # still held
    refused(practice.agenda.hold(old_slot, TTL, now=NOW, actor=IVR), Reason.SLOT_TAKEN)

    free = first_slot(practice, practitioner="dr-b", after=NOW + timedelta(days=4))
    moved = practice.agenda.reschedule(old, free, "move-2", now=NOW,
                                       patient_id=practice.known_patient, actor=IVR)
    assert isinstance(moved, Rescheduled)
    assert moved.old.status == "moved" and moved.new.replaces_id == old
    assert moved.new.starts_at == free.starts_at and moved.new.practitioner_id == practice.dr_b
    assert practice.agenda.reschedule(old, free, "move-2", now=NOW, actor=IVR) == moved
    assert isinstance(practice.agenda.hold(old_slot, TTL, now=NOW, actor=IVR), Held)  # freed
    refused(practice.agenda.reschedule(old, free, "move-3", now=NOW, actor=IVR),
            Reason.ALREADY_CANCELLED)
    assert [v.id for v in practice.agenda.upcoming(practice.known_patient, now=NOW, **READ)] == [
        moved.new.id]


def test_reschedule_through_a_hold_and_by_ten_minutes_onto_itself(practice: Practice) -> None:
    slot = first_slot(practice, practitioner="dr-a", after=NOW + timedelta(days=2))
    appointment = book(practice, slot)
    shifted = replace(slot, starts_at=slot.starts_at + timedelta(minutes=10),
                      ends_at=slot.ends_at + timedelta(minutes=10))
    moved = practice.agenda.reschedule(appointment, shifted, "shift", now=NOW, actor=IVR)
    assert isinstance(moved, Rescheduled)
    later = first_slot(practice, practitioner="dr-b", after=NOW + timedelta(days=5))
    again = practice.agenda.reschedule(moved.new.id, hold(practice, later), "via-hold", now=NOW,
                                       actor=IVR)
    assert isinstance(again, Rescheduled) and again.new.starts_at == later.starts_at
    refused(practice.agenda.reschedule(again.new.id, "no-such-hold", "x", now=NOW, actor=IVR),
            Reason.HOLD_EXPIRED)
    late = again.new.starts_at - timedelta(hours=2)
    refused(practice.agenda.reschedule(again.new.id, slot, "late", now=late, actor=IVR),
            Reason.TOO_LATE_TO_CANCEL)
    refused(practice.agenda.reschedule(999, slot, "ghost", now=NOW, actor=IVR),
            Reason.UNKNOWN_APPOINTMENT)


def test_upcoming_lists_future_booked_visits_in_order(practice: Practice) -> None:
    later = first_slot(practice, after=NOW + timedelta(days=6))
    sooner = first_slot(practice, after=NOW + timedelta(days=2))
    book(practice, later, key="a")
    book(practice, sooner, key="b")
    views = practice.agenda.upcoming(practice.known_patient, now=NOW, **READ)
    assert [v.starts_at for v in views] == [sooner.starts_at, later.starts_at]
    assert practice.agenda.upcoming(practice.known_patient, now=later.starts_at, **READ) == []
    assert practice.agenda.upcoming(practice.new_patient, now=NOW, **READ) == []
    day = sooner.starts_at.astimezone(views[0].local_start.tzinfo).date()
    assert [v.id for v in practice.agenda.day_list(practice.id, day)] == [views[0].id]
