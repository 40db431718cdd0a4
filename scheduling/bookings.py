"""Appointments: confirm a hold, book in one go, cancel, move. Each call is one transaction.

No double booking is left to Python: an appointment occupies the 5-minute cells of its
time (:mod:`scheduling.occupancy`), two overlapping ones collide on the primary key of
``slot_cells`` and the loser's ``IntegrityError`` becomes ``Refused(SLOT_TAKEN)``.
Bookings and moves carry an idempotency key (:mod:`scheduling.idempotency`).

Every change is recorded by :func:`_record_change` inside its transaction: the audit
event and the calendar outbox row that publishes it to the practitioner's own calendar
(:mod:`scheduling.calendar_outbox`), so that a rolled-back change has neither.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from scheduling import (
    audit_events,
    calendar_outbox,
    idempotency,
    lookup,
    occupancy,
    patient_rules,
    practice_profile,
    rules,
)
from scheduling.audit_events import Action, Who
from scheduling.clock import cells, now_utc
from scheduling.errors import InvalidSlot
from scheduling.holds import HOLD_EXPIRED, SLOT_TAKEN, Holds
from scheduling.openings import opening_refusal
from scheduling.values import Booked, Cancelled, Channel, Reason, Refused, Rescheduled, Slot
from scheduling.views import appointment_view
from storage import outbox
from storage.db import Database
from storage.models import (
    Appointment,
    AppointmentStatus,
    Hold,
    NotificationKind,
    Patient,
    Practice,
    PracticeProfile,
    Practitioner,
    UTCDateTime,
    VisitType,
)
from storage.patients import PatientDirectory

UNKNOWN_APPOINTMENT = Refused(Reason.UNKNOWN_APPOINTMENT, "no such appointment")


class Bookings:
    """Book, cancel and move the appointments of every practice of one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def confirm(
        self,
        hold_id: str,
        patient_id: int,
        idempotency_key: str,
        *,
        actor: str,
        purpose: str | None = None,
        now: datetime | None = None,
        by: Channel = Channel.PHONE,
    ) -> Booked | Refused:
        """Turn a hold into an appointment for ``patient_id``.

        The same ``idempotency_key`` twice books once and returns the same appointment;
        the key of another request raises ``IdempotencyKeyReused``, an unknown patient
        ``UnknownPatient``. Audited as ``appointment.book`` (once: a replay writes
        nothing). An expired hold is refused and left to ``Holds.expire_holds``.
        """
        who = Who(actor, purpose)
        now = now_utc(now)
        try:
            with self.db.session() as session:
                # one round trip: the hold (locked) with its visit type, practitioner and
                # practice, the appointment already made with the key, the patient, the
                # practice's profile, whether the patient was seen there, whether the
                # practitioner's calendar is linked; all stay in the session for below
                found = session.execute(_TO_CONFIRM, {
                    "hold_id": hold_id, "key": idempotency_key, "patient_id": patient_id,
                    "now": now}).first()
                if found is None:
                    # A concurrent confirm with the same key may have just used the hold.
                    done = idempotency.replayed_booking(session, idempotency_key, patient_id)
                    return done or HOLD_EXPIRED
                held, kind, _person, _place, made, _patient, profile, seen, linked = found
                done = idempotency.booking_replay(session, made, patient_id)
                if done is not None:
                    return done
                if held.expires_at <= now:
                    return HOLD_EXPIRED
                PatientDirectory(session).get(patient_id, held.practice_id)  # or UnknownPatient
                refusal = rules.booking_refusal(
                    kind, held.starts_at, now, by
                ) or patient_rules.booking_refusal(
                    session, kind, held.practitioner_id, patient_id, held.starts_at, now, by,
                    new=not seen, about=practice_profile.view_of(held.practice_id, profile),
                )
                if refusal is not None:
                    return refusal
                row = _booked(held.practice_id, held.practitioner_id, patient_id, kind,
                              held.starts_at, held.ends_at, idempotency_key, by, now)
                fields = {name: getattr(row, name) for name in occupancy.BOOKED_FIELDS}
                row.id, moved = occupancy.appointment_from_hold(session, held.id, fields)
                if moved != len(list(cells(held.starts_at, held.ends_at))):
                    raise _HoldLost  # a concurrent transaction took the hold's cells
                _record_change(
                    session, audit_events.APPOINTMENT_BOOK, who, row,
                    {"hold_id": held.id, "practitioner_id": row.practitioner_id, "by": str(by)},
                    any_linked=bool(linked),
                )
                if by is Channel.PHONE:  # sent by the notifications job, if configured
                    outbox.enqueue(session, NotificationKind.BOOKING_CONFIRMATION,
                                   row.practice_id, patient_id=patient_id,
                                   appointment_id=row.id)
                return Booked(appointment_view(session, row))
        except _HoldLost:
            return HOLD_EXPIRED
        except IntegrityError:
            with self.db.session() as session:
                done = idempotency.replayed_booking(session, idempotency_key, patient_id)
            return done or SLOT_TAKEN

    def book(
        self,
        slot: Slot,
        patient_id: int,
        idempotency_key: str,
        *,
        actor: str,
        purpose: str | None = None,
        now: datetime | None = None,
        by: Channel = Channel.STAFF,
    ) -> Booked | Refused:
        """Hold and confirm in one go (for staff and imports).

        Audited as its steps: ``hold.create`` then ``appointment.book``; a hold that is not
        confirmed (refused, or an error such as an unknown patient) is released
        (``hold.release``); a refused hold writes nothing.
        """
        Who(actor, purpose)  # a malformed actor is refused before anything is read
        now = now_utc(now)
        with self.db.read_session() as session:
            done = idempotency.replayed_booking(session, idempotency_key, patient_id)
        if done is not None:
            return done
        holds = Holds(self.db)
        held = holds.hold(slot, timedelta(minutes=1), actor=actor, purpose=purpose, now=now, by=by)
        if isinstance(held, Refused):
            return held
        try:
            result = self.confirm(
                held.hold.id, patient_id, idempotency_key, actor=actor, purpose=purpose,
                now=now, by=by,
            )
        except Exception:
            holds.release(held.hold.id, actor=actor, purpose=purpose)
            raise
        if isinstance(result, Refused):
            holds.release(held.hold.id, actor=actor, purpose=purpose)
        return result

    def cancel(
        self,
        appointment_id: int,
        *,
        actor: str,
        purpose: str | None = None,
        now: datetime | None = None,
        by: Channel = Channel.PHONE,
        patient_id: int | None = None,
    ) -> Cancelled | Refused:
        """Cancel an appointment and free its time; audited as ``appointment.cancel``.

        With ``patient_id`` (a phone caller), an appointment of someone else is unknown.
        """
        who = Who(actor, purpose)
        now = now_utc(now)
        with self.db.session() as session:
            row = _appointment_for_update(session, appointment_id, patient_id)
            if row is None:
                return UNKNOWN_APPOINTMENT
            kind = session.get_one(VisitType, row.visit_type_id)
            refusal = rules.cancel_refusal(row, kind, now, by)
            if refusal is not None:
                return refusal
            occupancy.free_appointment(session, row.id)
            row.status = AppointmentStatus.CANCELLED
            row.cancelled_at = now
            row.cancelled_by = str(by)
            session.flush()
            _record_change(session, audit_events.APPOINTMENT_CANCEL, who, row, {"by": str(by)})
            return Cancelled(appointment_view(session, row))

    def reschedule(
        self,
        appointment_id: int,
        new: Slot | str,
        idempotency_key: str,
        *,
        actor: str,
        purpose: str | None = None,
        now: datetime | None = None,
        by: Channel = Channel.PHONE,
        patient_id: int | None = None,
    ) -> Rescheduled | Refused:
        """Move an appointment to ``new`` (a slot, or the id of a hold on one), atomically.

        The old time is freed only if the new one is taken; the same key twice moves once.
        Audited as ``appointment.move`` on the old appointment (the new one in detail).
        """
        who = Who(actor, purpose)
        now = now_utc(now)
        try:
            with self.db.session() as session:
                done = idempotency.replayed_move(session, idempotency_key, appointment_id)
                if done is not None:
                    return done
                old = _appointment_for_update(session, appointment_id, patient_id)
                if old is None:
                    return UNKNOWN_APPOINTMENT
                # A concurrent move with the same key may have committed while we waited.
                done = idempotency.replayed_move(session, idempotency_key, appointment_id)
                if done is not None:
                    return done
                kind = session.get_one(VisitType, old.visit_type_id)
                refusal = rules.cancel_refusal(old, kind, now, by)
                if refusal is not None:
                    return refusal
                target = _move_target(session, old, kind, new, now, by)
                if isinstance(target, Refused):
                    return target
                refusal = rules.booking_refusal(kind, target.starts_at, now, by)
                if refusal is not None:
                    return refusal
                occupancy.free_appointment(session, old.id)
                old.status = AppointmentStatus.MOVED
                old.cancelled_at = now
                old.cancelled_by = str(by)
                row = _booked(
                    old.practice_id, target.practitioner_id, old.patient_id, kind,
                    target.starts_at, target.ends_at, idempotency_key, by, now,
                    replaces_id=old.id,
                )
                session.add(row)
                session.flush()  # its id, for its cells
                detail: dict[str, object] = {
                    "to_appointment_id": row.id,
                    "practitioner_id": row.practitioner_id,
                    "by": str(by),
                }
                if isinstance(target, Hold):
                    _take_over_hold(session, target, row)
                    detail["hold_id"] = target.id
                else:
                    dropped = occupancy.drop_expired_holds(
                        session, now, practitioner_id=row.practitioner_id,
                        starts_at=row.starts_at, ends_at=row.ends_at,
                    )
                    occupancy.occupy(
                        session, row.practitioner_id, row.starts_at, row.ends_at,
                        appointment_id=row.id,
                    )
                    if dropped:
                        detail["expired_holds_dropped"] = dropped
                session.flush()
                _record_change(session, audit_events.APPOINTMENT_MOVE, who, old, detail,
                               replacement=row)
                return Rescheduled(appointment_view(session, old), appointment_view(session, row))
        except _HoldLost:
            return HOLD_EXPIRED
        except IntegrityError:
            with self.db.session() as session:
                done = idempotency.replayed_move(session, idempotency_key, appointment_id)
            return done or SLOT_TAKEN


class _HoldLost(Exception):
    """The hold's cells were taken over by a concurrent transaction: roll back."""


def _record_change(
    session: Session, action: Action, who: Who, row: Appointment, detail: dict[str, object],
    *, replacement: Appointment | None = None, any_linked: bool | None = None,
) -> None:
    """Record a change of ``row`` (moved to ``replacement``) in its transaction: the
    calendar outbox row, then the audit event. ``any_linked``: whether a practitioner's
    calendar is linked, when the caller has read it."""
    if replacement is None:
        calendar_outbox.record_change(session, row, any_linked=any_linked)
    else:
        calendar_outbox.record_change(session, row, replacement, any_linked=any_linked)
    audit_events.record(
        session, action, who, object_id=row.id, patient_id=row.patient_id,
        practice_id=row.practice_id, detail=detail,
    )


def _booked(
    practice_id: int,
    practitioner_id: int,
    patient_id: int,
    kind: VisitType,
    starts_at: datetime,
    ends_at: datetime,
    idempotency_key: str,
    by: Channel,
    now: datetime,
    *,
    replaces_id: int | None = None,
) -> Appointment:
    """A booked appointment, not yet written."""
    return Appointment(
        practice_id=practice_id,
        practitioner_id=practitioner_id,
        patient_id=patient_id,
        visit_type_id=kind.id,
        starts_at=starts_at,
        ends_at=ends_at,
        status=AppointmentStatus.BOOKED,
        idempotency_key=idempotency_key,
        booked_by=str(by),
        created_at=now,
        replaces_id=replaces_id,
    )


_MADE_WITH_KEY = aliased(Appointment)
# What a confirm reads, built once (parameters: hold_id, key, patient_id, now).
_TO_CONFIRM = (
    select(Hold, VisitType, Practitioner, Practice, _MADE_WITH_KEY, Patient, PracticeProfile,
           patient_rules.seen_before(bindparam("patient_id"), Hold.practice_id,
                                     bindparam("now", type_=UTCDateTime())),
           calendar_outbox.linked(Hold.practitioner_id))
    .select_from(Hold)
    .join(VisitType, VisitType.id == Hold.visit_type_id)
    .join(Practitioner, Practitioner.id == Hold.practitioner_id)
    .join(Practice, Practice.id == Hold.practice_id)
    .outerjoin(_MADE_WITH_KEY, _MADE_WITH_KEY.idempotency_key == bindparam("key"))
    .outerjoin(Patient, Patient.id == bindparam("patient_id"))
    .outerjoin(PracticeProfile, PracticeProfile.practice_id == Hold.practice_id)
    .where(Hold.id == bindparam("hold_id"))
    .with_for_update(of=Hold)
)


def _take_over_hold(session: Session, held: Hold, row: Appointment) -> None:
    """Give the cells of ``held`` to ``row`` and delete the hold, or raise :class:`_HoldLost`."""
    expected = len(list(cells(held.starts_at, held.ends_at)))
    if occupancy.hand_hold_to_appointment(session, held.id, row.id) != expected:
        raise _HoldLost
    occupancy.drop_handed_over_hold(session, held.id)


def _appointment_for_update(
    session: Session, appointment_id: int, patient_id: int | None
) -> Appointment | None:
    row = session.scalar(
        select(Appointment).where(Appointment.id == appointment_id).with_for_update()
    )
    if row is None or (patient_id is not None and row.patient_id != patient_id):
        return None
    return row


def _move_target(
    session: Session,
    old: Appointment,
    kind: VisitType,
    new: Slot | str,
    now: datetime,
    by: Channel,
) -> Hold | Slot | Refused:
    """Where ``old`` moves to: a live hold of the caller's, or a free-looking open slot."""
    if isinstance(new, str):
        held = session.scalar(select(Hold).where(Hold.id == new).with_for_update())
        if held is None or held.expires_at <= now:
            return HOLD_EXPIRED
        if held.visit_type_id != old.visit_type_id or held.practice_id != old.practice_id:
            raise InvalidSlot("a moved appointment keeps its practice and visit type")
        return held
    place, slot_kind, person = lookup.slot(session, new)
    if slot_kind.id != kind.id or place.id != old.practice_id:
        raise InvalidSlot("a moved appointment keeps its practice and visit type")
    return rules.booking_refusal(kind, new.starts_at, now, by) or opening_refusal(
        session, place, person, new.starts_at, new.ends_at
    ) or new
