"""Publishing appointments to practitioners' CalDAV calendars: the outbox drain.

Each outbox row names an appointment whose state changed. The drain takes, per chain of
moves (its *root*, the first appointment), the latest row, works out where the event
must be (the calendar of the latest appointment's practitioner while it is booked,
nowhere once cancelled) and makes it so: PUT of the whole event at a stable address
(``telesec-appointment-<root>.ics``, UID ``telesec-appointment-<root>@telesec.invalid``),
DELETE where it must no longer be. Both are idempotent, so a drain cut short and run
again does no harm; the outbox rows are deleted only once their calendar has answered.

**Minimum data by default.** The calendar is outside Telesec's encryption, possibly
hosted by a provider that is not certified for health data: the event says
"Rendez-vous (téléphone)" (or "(secrétariat)" when staff booked it) and the visit type,
with Telesec's appointment number. The patient's name and phone number are added only
when the practice turned ``publish_patient_identity`` on; each such read of identity is
audited (``patient.read`` by ``system:calendar-publish``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from icalendar import Calendar, Event
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from calendars.busy_time import OWN_UID_DOMAIN
from calendars.credentials import CalendarSource, open_sealed
from calendars.remote import CalDavCollection, CalendarServerError
from scheduling import audit_events
from scheduling.values import AppointmentView
from scheduling.views import appointment_view
from storage.db import Database
from storage.keyring import Keyring
from storage.models import (
    Appointment,
    AppointmentStatus,
    CalendarKind,
    CalendarLink,
    CalendarOutbox,
    CalendarPublication,
    PracticeCalendarSettings,
    utcnow,
)
from storage.patients import PatientDirectory, UnknownPatient

log = logging.getLogger(__name__)

PRODUCT_ID = "-//Telesec//Calendar sync//FR"
PUBLISH_ACTOR = "system:calendar-publish"
BATCH = 500
TITLES = {"phone": "Rendez-vous (téléphone)", "staff": "Rendez-vous (secrétariat)"}


def uid_for(root_id: int) -> str:
    return f"telesec-appointment-{root_id}{OWN_UID_DOMAIN}"


def path_for(source: CalendarSource, root_id: int) -> str:
    return urlsplit(source.url).path + f"telesec-appointment-{root_id}.ics"


@dataclass(frozen=True, slots=True)
class PatientLine:
    name: str
    phone: str | None


def event_ics(view: AppointmentView, root_id: int, *, moves: int, now: datetime,
              patient: PatientLine | None = None) -> str:
    """The iCalendar text of a published appointment (minimum data unless ``patient``)."""
    title = f"{TITLES.get(view.booked_by, TITLES['phone'])} · {view.visit_type_label}"
    lines = [f"Pris par Telesec — rendez-vous n° {view.id}."]
    if patient is not None:
        title += f" · {patient.name}"
        if patient.phone:
            lines.append(f"Téléphone : {patient.phone}")
    event = Event()
    event.add("uid", uid_for(root_id))
    event.add("dtstamp", now)
    event.add("dtstart", view.starts_at)
    event.add("dtend", view.ends_at)
    event.add("summary", title)
    event.add("description", "\n".join(lines))
    event.add("categories", [view.visit_type_code])
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    event.add("sequence", moves)
    event.add("x-telesec-appointment", str(view.id))
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add_component(event)
    return calendar.to_ical().decode()


@dataclass
class DrainReport:
    published: int = 0
    removed: int = 0
    dropped: int = 0  # rows with nothing to do (no calendar linked any more)
    requests: int = 0
    failed_links: dict[int, str] = field(default_factory=dict)

    def summary(self) -> str:
        text = f"{self.published} published, {self.removed} removed"
        if self.failed_links:
            text += f", {len(self.failed_links)} calendar(s) unreachable (kept for later)"
        return text


@dataclass
class _Plan:
    root_id: int
    last_row: int
    appointment: AppointmentView | None  # the latest state, if booked
    moves: int
    target: CalendarLink | None
    remove: list[CalendarPublication]
    patient: PatientLine | None


class OutboxDrain:
    """Drains the calendar outbox; one client per calendar, opened when first needed."""

    def __init__(self, db: Database, keyring: Keyring, *, timeout: float,
                 open_collection: Callable[..., CalDavCollection] = CalDavCollection,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.keyring = keyring
        self.timeout = timeout
        self.open_collection = open_collection
        self.clock = clock

    def pending(self) -> bool:
        """Whether anything waits: an outbox row, or an event of a deleted appointment."""
        with self.db.read_session() as session:
            return session.scalar(select(CalendarOutbox.id).limit(1)) is not None or (
                session.scalar(select(CalendarPublication.id).where(
                    CalendarPublication.root_appointment_id.is_(None)).limit(1)) is not None)

    def drain(self) -> DrainReport:
        report = DrainReport()
        clients: dict[int, CalDavCollection] = {}
        try:
            with self.db.read_session() as session:
                rows = list(session.execute(
                    select(CalendarOutbox.id, CalendarOutbox.root_appointment_id,
                           CalendarOutbox.appointment_id)
                    .order_by(CalendarOutbox.id).limit(BATCH)))
            latest: dict[int, tuple[int, int]] = {}
            for row_id, root_id, appointment_id in rows:
                latest[root_id] = (row_id, appointment_id)
            for root_id, (row_id, appointment_id) in latest.items():
                self._one(root_id, row_id, appointment_id, clients, report)
            self._orphans(clients, report)
        finally:
            for client in clients.values():
                report.requests += client.requests
                client.close()
        return report

    def _one(self, root_id: int, row_id: int, appointment_id: int,
             clients: dict[int, CalDavCollection], report: DrainReport) -> None:
        plan = self._plan(root_id, row_id, appointment_id)
        links = [p.link_id for p in plan.remove] + ([plan.target.id] if plan.target else [])
        failed = next((i for i in links if i in report.failed_links), None)
        if failed is not None:
            self._note_failure(plan, report.failed_links[failed])
            return
        put: tuple[str, str | None] | None = None
        try:
            for publication in plan.remove:
                self._client(publication.link_id, clients).delete(publication.href)
                report.removed += 1
            if plan.target is not None and plan.appointment is not None:
                source = open_sealed(self.keyring, plan.target.practitioner_id,
                                     plan.target.sealed_source)
                path = path_for(source, root_id)
                data = event_ics(plan.appointment, root_id, moves=plan.moves,
                                 now=self.clock(), patient=plan.patient)
                put = (path, self._client(plan.target.id, clients).put(path, data))
                report.published += 1
        except CalendarServerError as exc:
            failing = next((i for i in links if i not in report.failed_links), links[0])
            report.failed_links[failing] = str(exc)
            self._note_failure(plan, str(exc))
            log.warning("calendar publishing to link %d failed: %s; the change stays in the "
                        "outbox for the next sync", failing, exc)
            return
        if not plan.remove and plan.target is None:
            report.dropped += 1
        try:
            self._record(plan, root_id, row_id, put)
        except IntegrityError:  # another engine node drained the same change at once
            log.info("calendar publication of appointment chain %d recorded by another node",
                     root_id)

    def _record(self, plan: _Plan, root_id: int, row_id: int,
                put: tuple[str, str | None] | None) -> None:
        """What the calendars now hold, and the outbox rows done (one transaction)."""
        with self.db.session() as session:
            for publication in plan.remove:
                session.execute(delete(CalendarPublication).where(
                    CalendarPublication.id == publication.id))
            if plan.target is not None and put is not None and plan.appointment is not None:
                row = session.scalar(select(CalendarPublication).where(
                    CalendarPublication.link_id == plan.target.id,
                    CalendarPublication.root_appointment_id == root_id))
                if row is None:
                    row = CalendarPublication(link_id=plan.target.id, root_appointment_id=root_id)
                    session.add(row)
                row.appointment_id = plan.appointment.id
                row.href, row.etag = put
                row.published_at = self.clock()
            session.execute(delete(CalendarOutbox).where(
                CalendarOutbox.root_appointment_id == root_id, CalendarOutbox.id <= row_id))

    def _orphans(self, clients: dict[int, CalDavCollection], report: DrainReport) -> None:
        """Remove the events of appointments that were deleted (a patient's erasure)."""
        with self.db.read_session() as session:
            orphans = list(session.execute(
                select(CalendarPublication.id, CalendarPublication.link_id,
                       CalendarPublication.href)
                .where(CalendarPublication.root_appointment_id.is_(None)).limit(BATCH)))
        for publication_id, link_id, href in orphans:
            if link_id in report.failed_links:
                continue
            try:
                self._client(link_id, clients).delete(href)
            except CalendarServerError as exc:
                report.failed_links[link_id] = str(exc)
                continue
            report.removed += 1
            with self.db.session() as session:
                session.execute(delete(CalendarPublication).where(
                    CalendarPublication.id == publication_id))

    def _plan(self, root_id: int, row_id: int, appointment_id: int) -> _Plan:
        """Where the event of ``root_id`` must be, from the latest appointment's state."""
        with self.db.session() as session:
            row = session.get(Appointment, appointment_id)
            while row is not None and row.status == AppointmentStatus.MOVED:
                row = session.scalar(select(Appointment).where(Appointment.replaces_id == row.id))
            publications = list(session.scalars(select(CalendarPublication).where(
                CalendarPublication.root_appointment_id == root_id)))
            target = None
            if row is not None and row.status == AppointmentStatus.BOOKED:
                target = session.scalar(select(CalendarLink).where(
                    CalendarLink.practitioner_id == row.practitioner_id,
                    CalendarLink.kind == CalendarKind.CALDAV))
            remove = [p for p in publications if target is None or p.link_id != target.id]
            if target is None or row is None:
                return _Plan(root_id, row_id, None, 0, None, remove, None)
            return _Plan(root_id, row_id, appointment_view(session, row),
                         _moves(session, row), target, remove,
                         _patient_line(session, row))

    def _client(self, link_id: int, clients: dict[int, CalDavCollection]) -> CalDavCollection:
        if link_id not in clients:
            with self.db.read_session() as session:
                link = session.get_one(CalendarLink, link_id)
                source = open_sealed(self.keyring, link.practitioner_id, link.sealed_source)
            clients[link_id] = self.open_collection(source, timeout=self.timeout)
        return clients[link_id]

    def _note_failure(self, plan: _Plan, message: str) -> None:
        with self.db.session() as session:
            for row in session.scalars(select(CalendarOutbox).where(
                    CalendarOutbox.root_appointment_id == plan.root_id,
                    CalendarOutbox.id <= plan.last_row)):
                row.attempts += 1
                row.last_error = message[:200]


def _moves(session: Session, row: Appointment) -> int:
    count = 0
    while row.replaces_id is not None:
        row = session.get_one(Appointment, row.replaces_id)
        count += 1
    return count


def _patient_line(session: Session, row: Appointment) -> PatientLine | None:
    """The patient's name and number, only if the practice publishes them (audited)."""
    settings = session.get(PracticeCalendarSettings, row.practice_id)
    if settings is None or not settings.publish_patient_identity:
        return None
    try:
        record = PatientDirectory(session).get(row.patient_id, row.practice_id)
    except UnknownPatient:
        return None
    audit_events.record(
        session,
        audit_events.Action("patient.read", "patient",
                            "publish the appointment with the patient's name to the "
                        "practitioner's calendar (practice setting)"),
        audit_events.Who(PUBLISH_ACTOR, None),
        object_id=None,
        patient_id=record.id,
        practice_id=row.practice_id,
        detail={"appointment_id": row.id, "fields": ["name", "phone"]},
    )
    return PatientLine(f"{record.last_name.upper()} {record.first_name}", record.phone)
