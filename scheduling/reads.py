"""Reading the agenda: a patient's appointments, one appointment, a day, a practice.

Reads naming a patient take an actor and a purpose and are audited in their own
transaction (``patient.appointments.read``, ``appointment.read``). Practice-wide reads
(:meth:`AgendaReads.day_list`, :meth:`AgendaReads.appointments_between`) are audited by
their caller, who knows who reads the day and why.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from scheduling import audit_events, idempotency, lookup
from scheduling.audit_events import Who
from scheduling.clock import local_day_bounds, now_utc, require_aware
from scheduling.lookup import PracticeRef, PractitionerRef
from scheduling.values import AppointmentView, PracticeView, PractitionerView, VisitTypeView
from scheduling.views import appointment_view, appointment_views
from storage.db import Database
from storage.models import Appointment, AppointmentStatus, VisitType


class AgendaReads:
    """Read the appointments and set-up of every practice of one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
        who = Who(actor, purpose)
        now = now_utc(now)
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
                session, audit_events.PATIENT_APPOINTMENTS_READ, who, patient_id=patient_id,
                practice_id=practice_id, detail={"appointments": len(views)},
            )
            return views

    def appointment(
        self, appointment_id: int, *, actor: str, purpose: str
    ) -> AppointmentView | None:
        """One appointment, or None; a found one is audited as ``appointment.read``."""
        who = Who(actor, purpose)
        with self.db.session() as session:
            row = session.get(Appointment, appointment_id)
            if row is None:
                return None
            audit_events.record(
                session, audit_events.APPOINTMENT_READ, who, object_id=row.id,
                patient_id=row.patient_id, practice_id=row.practice_id,
            )
            return appointment_view(session, row)

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
            people = lookup.practitioners(session, place.id)
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

    def key_used(self, idempotency_key: str) -> bool:
        """True when an appointment was already made with ``idempotency_key``."""
        with self.db.read_session() as session:
            return idempotency.key_used(session, idempotency_key)
