"""The agenda service: the one API the phone flows and the staff console book through.

Each call is one database transaction. Refusals are returned as :class:`Refused` values;
no double booking is left to Python: two overlapping bookings collide on the primary key
of ``slot_cells`` and the loser's ``IntegrityError`` becomes ``Refused(SLOT_TAKEN)``.

Audit: every change takes an ``actor`` (``staff:<login>``, ``ivr:<call id>``,
``system:<job>``, ``cli:<user>``) and an optional ``purpose``, and writes exactly one
audit event in its own transaction (:mod:`scheduling.audit_events`). Refusals and
idempotent replays change nothing and write nothing. Reads of a patient's appointments
(:meth:`Agenda.upcoming`, :meth:`Agenda.appointment`) take an actor and a purpose and are
audited too. Practice-wide reads (:meth:`Agenda.day_list`,
:meth:`Agenda.appointments_between`) are audited by their caller.
"""

from __future__ import annotations

import heapq
import itertools
import secrets
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduling import audit_events, calendar_outbox, imported_busy, lookup, occupancy, rules
from scheduling.clock import cells, local_day_bounds, on_cell_grid, require_aware
from scheduling.errors import InvalidSlot, SchedulingError, UnknownPatient
from scheduling.lookup import PracticeRef, PractitionerRef
from scheduling.slots import Closure, WeeklyOpening, Window, fits_opening, free_starts, windows_on
from scheduling.values import (
    AppointmentView,
    Booked,
    Cancelled,
    Channel,
    Held,
    PartOfDay,
    PracticeView,
    PractitionerView,
    Reason,
    Refused,
    Released,
    Rescheduled,
    Slot,
    VisitTypeView,
)
from scheduling.views import appointment_view, appointment_views, hold_view
from storage.db import Database
from storage.models import (
    Appointment,
    AppointmentStatus,
    Hold,
    OpeningTemplate,
    Practice,
    Practitioner,
    VisitType,
)
from storage.patients import PatientDirectory
from storage.patients import UnknownPatient as UnknownPatientRecord

SEARCH_CHUNK_DAYS = 7
DEFAULT_HORIZON_DAYS = 92
NOON_HOUR = 12


class Agenda:
    """Find slots, hold, confirm, cancel and move appointments of every practice."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ----- searching -----------------------------------------------------------------

    def find_slots(
        self,
        practice: PracticeRef,
        visit_type: str,
        *,
        practitioner: PractitionerRef | None = None,
        day: date | None = None,
        part_of_day: PartOfDay | str | None = None,
        after: datetime | None = None,
        limit: int = 3,
        now: datetime | None = None,
        by: Channel = Channel.PHONE,
        horizon_days: int = DEFAULT_HORIZON_DAYS,
    ) -> list[Slot] | Refused:
        """The earliest free slots for ``visit_type``, earliest first, at most ``limit``.

        ``day`` is a local date of the practice; ``part_of_day`` keeps slots starting
        before noon (morning) or from noon (afternoon); ``after`` is an aware instant.
        Refused only when the visit type cannot be booked through ``by`` at all.
        """
        now = _now(now)
        part = PartOfDay(part_of_day) if part_of_day is not None else None
        with self.db.read_session() as session:
            place = lookup.practice(session, practice)
            kind = lookup.visit_type(session, place.id, visit_type)
            if by is Channel.PHONE and not kind.phone_bookable:
                return Refused(
                    Reason.NOT_BOOKABLE_BY_PHONE, f"{kind.label} is booked by the practice"
                )
            people = _practitioners(session, place.id, practitioner)
            if not people:
                return []
            zone = ZoneInfo(place.timezone)
            earliest = now
            if by is Channel.PHONE:
                earliest = now + timedelta(minutes=kind.min_book_notice_minutes)
            if after is not None:
                earliest = max(earliest, require_aware(after, "after"))
            first_day = earliest.astimezone(zone).date()
            if day is not None:
                if day < first_day:
                    return []
                first_day, last_day = day, day
            else:
                last_day = first_day + timedelta(days=horizon_days - 1)
            openings = _openings(session, people)
            found: list[Slot] = []
            chunk_start, chunk_days = first_day, 1  # the first day alone often suffices
            while chunk_start <= last_day and len(found) < limit:
                chunk_end = min(chunk_start + timedelta(days=chunk_days - 1), last_day)
                chunk_days = SEARCH_CHUNK_DAYS
                found.extend(
                    _free_slots_between(
                        session,
                        place,
                        kind,
                        people,
                        openings,
                        chunk_start,
                        chunk_end,
                        earliest,
                        now,
                        part,
                        limit - len(found),
                    )
                )
                chunk_start = chunk_end + timedelta(days=1)
            return found[:limit]

    # ----- booking -------------------------------------------------------------------

    def hold(
        self,
        slot: Slot,
        ttl: timedelta,
        *,
        actor: str,
        purpose: str | None = None,
        now: datetime | None = None,
        by: Channel = Channel.PHONE,
    ) -> Held | Refused:
        """Keep ``slot`` for ``ttl`` while the caller confirms; nobody else can take it.

        Audited as ``hold.create`` (no patient yet).
        """
        audit_events.require_actor(actor)
        now = _now(now)
        try:
            with self.db.session() as session:
                place, kind, person = _slot_parts(session, slot)
                refusal = rules.booking_refusal(kind, slot.starts_at, now, by) or _opening_refusal(
                    session, place, person, slot.starts_at, slot.ends_at
                )
                if refusal is not None:
                    return refusal
                dropped = occupancy.drop_expired_holds(
                    session,
                    now,
                    practitioner_id=person.id,
                    starts_at=slot.starts_at,
                    ends_at=slot.ends_at,
                )
                row = Hold(
                    id=secrets.token_hex(16),
                    practice_id=place.id,
                    practitioner_id=person.id,
                    visit_type_id=kind.id,
                    starts_at=slot.starts_at,
                    ends_at=slot.ends_at,
                    expires_at=now + ttl,
                )
                session.add(row)
                session.flush()
                occupancy.occupy(session, person.id, slot.starts_at, slot.ends_at, hold_id=row.id)
                detail: dict[str, object] = {
                    "practitioner_id": person.id,
                    "ttl_seconds": int(ttl.total_seconds()),
                    "by": str(by),
                }
                if dropped:
                    detail["expired_holds_dropped"] = dropped
                audit_events.record(
                    session,
                    actor=actor,
                    action="hold.create",
                    object_type="hold",
                    object_id=row.id,
                    purpose=purpose,
                    default_purpose="keep a slot while the booking is confirmed",
                    practice_id=place.id,
                    detail=detail,
                )
                return Held(hold_view(session, row))
        except IntegrityError:
            return Refused(Reason.SLOT_TAKEN, "someone else has just taken that time")

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

        The same ``idempotency_key`` twice books once and returns the same appointment.
        Audited as ``appointment.book`` (once: a replay writes nothing). An expired hold
        is refused and left to :meth:`expire_holds`.
        """
        audit_events.require_actor(actor)
        now = _now(now)
        try:
            with self.db.session() as session:
                done = _booked_with_key(session, idempotency_key, patient_id)
                if done is not None:
                    return done
                held = session.scalar(select(Hold).where(Hold.id == hold_id).with_for_update())
                if held is None or held.expires_at <= now:
                    # A concurrent confirm with the same key may have just used the hold.
                    done = _booked_with_key(session, idempotency_key, patient_id)
                    if done is not None:
                        return done
                    return Refused(Reason.HOLD_EXPIRED, "that time was not kept any longer")
                kind = session.get_one(VisitType, held.visit_type_id)
                _patient(session, patient_id, held.practice_id)
                refusal = rules.booking_refusal(
                    kind, held.starts_at, now, by
                ) or rules.new_patient_refusal(
                    kind, _is_new_patient(session, patient_id, held.practice_id, now)
                )
                if refusal is not None:
                    return refusal
                row = Appointment(
                    practice_id=held.practice_id,
                    practitioner_id=held.practitioner_id,
                    patient_id=patient_id,
                    visit_type_id=held.visit_type_id,
                    starts_at=held.starts_at,
                    ends_at=held.ends_at,
                    status=AppointmentStatus.BOOKED,
                    idempotency_key=idempotency_key,
                    booked_by=str(by),
                    created_at=now,
                )
                session.add(row)
                session.flush()
                expected = len(list(cells(held.starts_at, held.ends_at)))
                if occupancy.hand_hold_to_appointment(session, held.id, row.id) != expected:
                    raise _HoldLost
                occupancy.drop_holds(session, [held.id])
                calendar_outbox.record_change(session, row)  # issue 18: publish
                audit_events.record(
                    session,
                    actor=actor,
                    action="appointment.book",
                    object_type="appointment",
                    object_id=row.id,
                    purpose=purpose,
                    default_purpose="book an appointment",
                    patient_id=patient_id,
                    practice_id=row.practice_id,
                    detail={"hold_id": held.id, "practitioner_id": row.practitioner_id,
                            "by": str(by)},
                )
                return Booked(appointment_view(session, row))
        except _HoldLost:
            return Refused(Reason.HOLD_EXPIRED, "that time was not kept any longer")
        except IntegrityError:
            with self.db.session() as session:
                done = _booked_with_key(session, idempotency_key, patient_id)
            return done or Refused(Reason.SLOT_TAKEN, "someone else has just taken that time")

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
        """Hold and confirm in one go (for staff and imports); a refused hold is released.

        Audited as its steps: ``hold.create`` then ``appointment.book`` (or
        ``hold.release`` when the confirmation is refused); a refused hold writes nothing.
        """
        audit_events.require_actor(actor)
        now = _now(now)
        with self.db.read_session() as session:
            done = _booked_with_key(session, idempotency_key, patient_id)
        if done is not None:
            return done
        held = self.hold(slot, timedelta(minutes=1), actor=actor, purpose=purpose, now=now, by=by)
        if isinstance(held, Refused):
            return held
        result = self.confirm(
            held.hold.id, patient_id, idempotency_key, actor=actor, purpose=purpose, now=now, by=by
        )
        if isinstance(result, Refused):
            self.release(held.hold.id, actor=actor, purpose=purpose)
        return result

    def release(self, hold_id: str, *, actor: str, purpose: str | None = None) -> Released:
        """Give a held slot back (a caller hung up or said no). Releasing twice is harmless.

        Audited as ``hold.release`` when a hold was there to release.
        """
        audit_events.require_actor(actor)
        with self.db.session() as session:
            held = session.scalar(select(Hold).where(Hold.id == hold_id).with_for_update())
            if held is not None:
                occupancy.drop_holds(session, [hold_id])
                audit_events.record(
                    session,
                    actor=actor,
                    action="hold.release",
                    object_type="hold",
                    object_id=hold_id,
                    purpose=purpose,
                    default_purpose="give back a slot that was not booked",
                    practice_id=held.practice_id,
                )
        return Released(hold_id)

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
        audit_events.require_actor(actor)
        now = _now(now)
        with self.db.session() as session:
            row = _appointment_for_update(session, appointment_id, patient_id)
            if row is None:
                return Refused(Reason.UNKNOWN_APPOINTMENT, "no such appointment")
            kind = session.get_one(VisitType, row.visit_type_id)
            refusal = rules.cancel_refusal(row, kind, now, by)
            if refusal is not None:
                return refusal
            occupancy.free_appointment(session, row.id)
            row.status = AppointmentStatus.CANCELLED
            row.cancelled_at = now
            row.cancelled_by = str(by)
            session.flush()
            calendar_outbox.record_change(session, row)  # issue 18: publish
            audit_events.record(
                session,
                actor=actor,
                action="appointment.cancel",
                object_type="appointment",
                object_id=row.id,
                purpose=purpose,
                default_purpose="cancel an appointment",
                patient_id=row.patient_id,
                practice_id=row.practice_id,
                detail={"by": str(by)},
            )
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
        audit_events.require_actor(actor)
        now = _now(now)
        try:
            with self.db.session() as session:
                done = _moved_with_key(session, idempotency_key, appointment_id)
                if done is not None:
                    return done
                old = _appointment_for_update(session, appointment_id, patient_id)
                if old is None:
                    return Refused(Reason.UNKNOWN_APPOINTMENT, "no such appointment")
                # A concurrent move with the same key may have committed while we waited.
                done = _moved_with_key(session, idempotency_key, appointment_id)
                if done is not None:
                    return done
                kind = session.get_one(VisitType, old.visit_type_id)
                refusal = rules.cancel_refusal(old, kind, now, by)
                if refusal is not None:
                    return refusal
                target = _reschedule_target(session, old, kind, new, now, by)
                if isinstance(target, Refused):
                    return target
                person_id, starts_at, ends_at, held_id = target
                refusal = rules.booking_refusal(kind, starts_at, now, by)
                if refusal is not None:
                    return refusal
                occupancy.free_appointment(session, old.id)
                old.status = AppointmentStatus.MOVED
                old.cancelled_at = now
                old.cancelled_by = str(by)
                row = Appointment(
                    practice_id=old.practice_id,
                    practitioner_id=person_id,
                    patient_id=old.patient_id,
                    visit_type_id=old.visit_type_id,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    status=AppointmentStatus.BOOKED,
                    idempotency_key=idempotency_key,
                    booked_by=str(by),
                    created_at=now,
                    replaces_id=old.id,
                )
                session.add(row)
                session.flush()
                detail: dict[str, object] = {
                    "to_appointment_id": row.id,
                    "practitioner_id": person_id,
                    "by": str(by),
                }
                if held_id is not None:
                    expected = len(list(cells(starts_at, ends_at)))
                    if occupancy.hand_hold_to_appointment(session, held_id, row.id) != expected:
                        raise _HoldLost
                    occupancy.drop_holds(session, [held_id])
                    detail["hold_id"] = held_id
                else:
                    dropped = occupancy.drop_expired_holds(
                        session,
                        now,
                        practitioner_id=person_id,
                        starts_at=starts_at,
                        ends_at=ends_at,
                    )
                    occupancy.occupy(session, person_id, starts_at, ends_at, appointment_id=row.id)
                    if dropped:
                        detail["expired_holds_dropped"] = dropped
                session.flush()
                calendar_outbox.record_change(session, old, row)  # issue 18: publish
                audit_events.record(
                    session,
                    actor=actor,
                    action="appointment.move",
                    object_type="appointment",
                    object_id=old.id,
                    purpose=purpose,
                    default_purpose="move an appointment",
                    patient_id=old.patient_id,
                    practice_id=old.practice_id,
                    detail=detail,
                )
                return Rescheduled(appointment_view(session, old), appointment_view(session, row))
        except _HoldLost:
            return Refused(Reason.HOLD_EXPIRED, "that time was not kept any longer")
        except IntegrityError:
            with self.db.session() as session:
                done = _moved_with_key(session, idempotency_key, appointment_id)
            return done or Refused(Reason.SLOT_TAKEN, "someone else has just taken that time")

    # ----- reading and housekeeping ---------------------------------------------------

    def upcoming(
        self,
        patient_id: int,
        *,
        actor: str,
        purpose: str,
        now: datetime | None = None,
        practice: PracticeRef | None = None,
    ) -> list[AppointmentView]:
        """The patient's booked appointments that have not started yet, earliest first.

        A read of health data: audited as ``patient.appointments.read`` by ``actor``,
        for ``purpose``, in the same transaction.
        """
        audit_events.require_actor(actor)
        now = _now(now)
        with self.db.session() as session:
            query = select(Appointment).where(
                Appointment.patient_id == patient_id,
                Appointment.status == AppointmentStatus.BOOKED,
                Appointment.starts_at > now,
            )
            practice_id = None
            if practice is not None:
                practice_id = lookup.practice(session, practice).id
                query = query.where(Appointment.practice_id == practice_id)
            rows = session.scalars(query.order_by(Appointment.starts_at))
            views = appointment_views(session, rows)
            audit_events.record(
                session,
                actor=actor,
                action="patient.appointments.read",
                object_type="patient",
                object_id=None,
                purpose=purpose,
                default_purpose="",
                patient_id=patient_id,
                practice_id=practice_id,
                detail={"appointments": len(views)},
            )
            return views

    def day_list(
        self,
        practice: PracticeRef,
        day: date,
        *,
        practitioner: PractitionerRef | None = None,
        include_cancelled: bool = False,
    ) -> list[AppointmentView]:
        """The appointments of a local day of the practice, by start then practitioner.

        Not audited here: the caller records who reads the day and why.
        """
        with self.db.read_session() as session:
            zone = ZoneInfo(lookup.practice(session, practice).timezone)
        start, end = local_day_bounds(day, zone)
        return self.appointments_between(
            practice, start, end, practitioner=practitioner, include_cancelled=include_cancelled
        )

    def appointments_between(
        self,
        practice: PracticeRef,
        start: datetime,
        end: datetime,
        *,
        practitioner: PractitionerRef | None = None,
        include_cancelled: bool = False,
    ) -> list[AppointmentView]:
        """Appointments starting in [start, end), by start then practitioner.

        Not audited here: the caller records who reads them and why.
        """
        start, end = require_aware(start, "start"), require_aware(end, "end")
        with self.db.read_session() as session:
            place = lookup.practice(session, practice)
            query = select(Appointment).where(
                Appointment.practice_id == place.id,
                Appointment.starts_at >= start,
                Appointment.starts_at < end,
            )
            if practitioner is not None:
                person = lookup.practitioner(session, place.id, practitioner)
                query = query.where(Appointment.practitioner_id == person.id)
            if not include_cancelled:
                query = query.where(Appointment.status == AppointmentStatus.BOOKED)
            rows = session.scalars(
                query.order_by(Appointment.starts_at, Appointment.practitioner_id)
            )
            return appointment_views(session, rows)

    def practice_info(self, practice: PracticeRef) -> PracticeView:
        """The practice, its active practitioners and its visit types."""
        with self.db.read_session() as session:
            place = lookup.practice(session, practice)
            people = _practitioners(session, place.id, None)
            kinds = session.scalars(
                select(VisitType).where(VisitType.practice_id == place.id).order_by(VisitType.id)
            )
            return PracticeView(
                id=place.id,
                slug=place.slug,
                name=place.name,
                timezone=place.timezone,
                practitioners=tuple(
                    PractitionerView(p.id, p.slug, p.display_name, p.specialty) for p in people
                ),
                visit_types=tuple(
                    VisitTypeView(
                        code=k.code,
                        label=k.label,
                        duration_minutes=k.duration_minutes,
                        phone_bookable=k.phone_bookable,
                        new_patients_allowed=k.new_patients_allowed,
                        min_book_notice_minutes=k.min_book_notice_minutes,
                        min_cancel_notice_minutes=k.min_cancel_notice_minutes,
                    )
                    for k in kinds
                ),
            )

    def appointment(
        self, appointment_id: int, *, actor: str, purpose: str
    ) -> AppointmentView | None:
        """One appointment, or None; a found one is audited as ``appointment.read``."""
        audit_events.require_actor(actor)
        with self.db.session() as session:
            row = session.get(Appointment, appointment_id)
            if row is None:
                return None
            audit_events.record(
                session,
                actor=actor,
                action="appointment.read",
                object_type="appointment",
                object_id=row.id,
                purpose=purpose,
                default_purpose="",
                patient_id=row.patient_id,
                practice_id=row.practice_id,
            )
            return appointment_view(session, row)

    def key_used(self, idempotency_key: str) -> bool:
        """True when an appointment was already made with ``idempotency_key``."""
        with self.db.read_session() as session:
            found = session.scalar(
                select(Appointment.id).where(Appointment.idempotency_key == idempotency_key)
            )
            return found is not None

    def expire_holds(
        self,
        now: datetime | None = None,
        *,
        actor: str = "system:hold-expiry",
        purpose: str | None = None,
    ) -> int:
        """Delete every expired hold and free its cells; returns how many went.

        Audited as one ``hold.expire`` event per practice that had expired holds.
        """
        audit_events.require_actor(actor)
        with self.db.session() as session:
            expired = list(
                session.execute(
                    select(Hold.id, Hold.practice_id).where(Hold.expires_at <= _now(now))
                )
            )
            occupancy.drop_holds(session, [hold_id for hold_id, _ in expired])
            by_practice: dict[int, list[str]] = {}
            for hold_id, practice_id in expired:
                by_practice.setdefault(practice_id, []).append(hold_id)
            for practice_id, hold_ids in sorted(by_practice.items()):
                audit_events.record(
                    session,
                    actor=actor,
                    action="hold.expire",
                    object_type="hold",
                    object_id=None,
                    purpose=purpose,
                    default_purpose="free slots of holds nobody confirmed",
                    practice_id=practice_id,
                    detail={"holds": len(hold_ids), "hold_ids": sorted(hold_ids)},
                )
            return len(expired)


class _HoldLost(Exception):
    """The hold's cells were taken over by a concurrent transaction: roll back."""


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else require_aware(now, "now")


def _practitioners(
    session: Session, practice_id: int, ref: PractitionerRef | None
) -> list[Practitioner]:
    if ref is not None:
        return [lookup.practitioner(session, practice_id, ref)]
    return list(
        session.scalars(
            select(Practitioner)
            .where(Practitioner.practice_id == practice_id, Practitioner.active.is_(True))
            .order_by(Practitioner.id)
        )
    )


def _openings(session: Session, people: Sequence[Practitioner]) -> list[WeeklyOpening]:
    rows = session.execute(
        select(
            OpeningTemplate.practitioner_id,
            OpeningTemplate.weekday,
            OpeningTemplate.start_time,
            OpeningTemplate.end_time,
        ).where(OpeningTemplate.practitioner_id.in_([p.id for p in people]))
    )
    return [WeeklyOpening(*row) for row in rows]


def _free_slots_between(
    session: Session,
    place: Practice,
    kind: VisitType,
    people: Sequence[Practitioner],
    openings: Sequence[WeeklyOpening],
    first_day: date,
    last_day: date,
    earliest: datetime,
    now: datetime,
    part: PartOfDay | None,
    wanted: int,
) -> list[Slot]:
    """The first ``wanted`` free slots on local days first_day..last_day, by start then
    practitioner."""
    zone = ZoneInfo(place.timezone)
    windows: list[Window] = []
    day = first_day
    while day <= last_day:
        windows.extend(windows_on(day, openings, zone))
        day += timedelta(days=1)
    windows = [w for w in windows if w.ends_at > earliest]
    if not windows:
        return []
    span_start = min(w.starts_at for w in windows)
    span_end = max(w.ends_at for w in windows)
    ids = [p.id for p in people]
    busy = occupancy.busy_cells(session, ids, span_start, span_end, now)
    imported_busy.add_busy_cells(session, busy, place.id, ids, span_start, span_end)  # issue 18
    closed: list[Closure] = occupancy.closures(session, place.id, ids, span_start, span_end)
    names = {p.id: p.display_name for p in people}
    duration = timedelta(minutes=kind.duration_minutes)

    def starts_in(window: Window) -> Iterator[tuple[datetime, int, Window]]:
        empty: set[datetime] = set()
        busy_here = busy.get(window.practitioner_id, empty)
        for start in free_starts(window, duration, busy_here, closed, earliest):
            if part is None or _part_of_day(start, window, zone) is part:
                yield start, window.practitioner_id, window

    # every window yields in time order: merging them gives the earliest first, lazily
    merged = heapq.merge(*(starts_in(w) for w in windows))
    return [
        Slot(
            practice_id=place.id,
            practitioner_id=practitioner_id,
            practitioner_name=names[practitioner_id],
            visit_type_code=kind.code,
            starts_at=start,
            ends_at=start + duration,
            timezone=place.timezone,
        )
        for start, practitioner_id, _window in itertools.islice(merged, wanted)
    ]


def _part_of_day(moment: datetime, window: Window, zone: ZoneInfo) -> PartOfDay:
    """Morning before noon, afternoon from 13:00; between, the part its opening started in.

    A 12:10 visit at the end of a morning surgery is a morning visit.
    """
    hour = moment.astimezone(zone).hour
    if hour < NOON_HOUR:
        return PartOfDay.MORNING
    if hour > NOON_HOUR:
        return PartOfDay.AFTERNOON
    opened = window.starts_at.astimezone(zone).hour
    return PartOfDay.MORNING if opened < NOON_HOUR else PartOfDay.AFTERNOON


def _slot_parts(session: Session, slot: Slot) -> tuple[Practice, VisitType, Practitioner]:
    """The rows a slot names, after checking the slot is well formed."""
    starts_at = require_aware(slot.starts_at, "slot start")
    ends_at = require_aware(slot.ends_at, "slot end")
    place = lookup.practice(session, slot.practice_id)
    kind = lookup.visit_type(session, place.id, slot.visit_type_code)
    person = lookup.practitioner(session, place.id, slot.practitioner_id)
    if not on_cell_grid(starts_at):
        raise InvalidSlot("a slot starts on a 5-minute boundary")
    if ends_at - starts_at != timedelta(minutes=kind.duration_minutes):
        raise InvalidSlot(
            f"a {kind.code} slot lasts {kind.duration_minutes} minutes, not "
            f"{int((ends_at - starts_at).total_seconds() // 60)}"
        )
    return place, kind, person


def _opening_refusal(
    session: Session,
    place: Practice,
    person: Practitioner,
    starts_at: datetime,
    ends_at: datetime,
) -> Refused | None:
    zone = ZoneInfo(place.timezone)
    day = starts_at.astimezone(zone).date()
    windows = windows_on(day, _openings(session, [person]), zone)
    closed = occupancy.closures(session, place.id, [person.id], starts_at, ends_at)
    closed += imported_busy.periods(session, place.id, [person.id], starts_at, ends_at)  # i18
    if fits_opening(person.id, starts_at, ends_at, windows, closed):
        return None
    return Refused(
        Reason.OUTSIDE_OPENING_HOURS, f"{person.display_name} does not see patients then"
    )


def _patient(session: Session, patient_id: int, practice_id: int) -> None:
    try:
        PatientDirectory(session).get(patient_id, practice_id)
    except UnknownPatientRecord:
        raise UnknownPatient(f"no patient {patient_id} in this practice") from None


def _is_new_patient(session: Session, patient_id: int, practice_id: int, now: datetime) -> bool:
    """A patient is new to a practice until they have had an appointment there."""
    seen = session.scalar(
        select(Appointment.id)
        .where(
            Appointment.patient_id == patient_id,
            Appointment.practice_id == practice_id,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at < now,
        )
        .limit(1)
    )
    return seen is None


def _booked_with_key(session: Session, key: str, patient_id: int) -> Booked | None:
    row = session.scalar(select(Appointment).where(Appointment.idempotency_key == key))
    if row is None:
        return None
    if row.patient_id != patient_id or row.replaces_id is not None:
        raise SchedulingError("this idempotency key was already used for another request")
    return Booked(appointment_view(session, row))


def _moved_with_key(session: Session, key: str, appointment_id: int) -> Rescheduled | None:
    row = session.scalar(select(Appointment).where(Appointment.idempotency_key == key))
    if row is None:
        return None
    if row.replaces_id != appointment_id:
        raise SchedulingError("this idempotency key was already used for another request")
    old = session.get_one(Appointment, appointment_id)
    return Rescheduled(appointment_view(session, old), appointment_view(session, row))


def _appointment_for_update(
    session: Session, appointment_id: int, patient_id: int | None
) -> Appointment | None:
    row = session.scalar(
        select(Appointment).where(Appointment.id == appointment_id).with_for_update()
    )
    if row is None or (patient_id is not None and row.patient_id != patient_id):
        return None
    return row


def _reschedule_target(
    session: Session,
    old: Appointment,
    kind: VisitType,
    new: Slot | str,
    now: datetime,
    by: Channel,
) -> tuple[int, datetime, datetime, str | None] | Refused:
    """(practitioner id, start, end, hold id or None) of where ``old`` moves to."""
    if isinstance(new, str):
        held = session.scalar(select(Hold).where(Hold.id == new).with_for_update())
        if held is None or held.expires_at <= now:
            return Refused(Reason.HOLD_EXPIRED, "that time was not kept any longer")
        if held.visit_type_id != old.visit_type_id or held.practice_id != old.practice_id:
            raise InvalidSlot("a moved appointment keeps its practice and visit type")
        return held.practitioner_id, held.starts_at, held.ends_at, held.id
    place, slot_kind, person = _slot_parts(session, new)
    if slot_kind.id != kind.id or place.id != old.practice_id:
        raise InvalidSlot("a moved appointment keeps its practice and visit type")
    refusal = rules.booking_refusal(kind, new.starts_at, now, by) or _opening_refusal(
        session, place, person, new.starts_at, new.ends_at
    )
    if refusal is not None:
        return refusal
    return person.id, new.starts_at, new.ends_at, None
