"""Linking practitioners' calendars, the practice's calendar settings, and what people see.

Every function works in the caller's transaction. Changes are audited with the actor
(``calendar.link``, ``calendar.unlink``, ``calendar.settings.update``,
``calendar.sync.request``); the audit names the server's host, never the address or
the credentials. Reads here hold no health data: ids, times and counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from calendars.credentials import CalendarSource, open_sealed, seal, sealed_kek_id
from scheduling import audit_events
from scheduling.calendar_outbox import record_change
from scheduling.errors import SchedulingError
from storage.keyring import Keyring
from storage.models import (
    Appointment,
    AppointmentStatus,
    CalendarConflict,
    CalendarKind,
    CalendarLink,
    CalendarOutbox,
    CalendarPublication,
    PracticeCalendarSettings,
    Practitioner,
    utcnow,
)

log = logging.getLogger(__name__)

STALE_AFTER_INTERVALS = 3  # a calendar not synced for 3 periods is shown as a warning


class CalendarLinkError(SchedulingError):
    """A link cannot be made or found; the message says why."""


@dataclass(frozen=True, slots=True)
class CalendarSettingsView:
    practice_id: int
    tentative_blocks: bool
    declined_blocks: bool
    publish_patient_identity: bool
    updated_at: datetime | None
    updated_by: str | None


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """One practitioner's calendar as people see it (no address, no credentials)."""

    practitioner_id: int
    practitioner_slug: str
    practitioner_name: str
    linked: bool
    kind: str | None = None
    server: str | None = None
    state: str = "unlinked"  # unlinked, pending, ok, failing, stale
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    events: int = 0
    busy_periods: int = 0
    last_changes: str | None = None
    last_requests: int = 0
    waiting_to_publish: int = 0
    published: int = 0
    conflicts: int = 0
    sync_requested: bool = False

    def line(self) -> str:
        """One line for a terminal."""
        if not self.linked:
            return f"{self.practitioner_slug}: no calendar linked"
        when = _short(self.last_success_at) if self.last_success_at else "never"
        text = (f"{self.practitioner_slug}: {self.kind} {self.server} — {self.state}; "
                f"last sync {when}; {self.events} events, {self.busy_periods} busy periods")
        if self.last_changes:
            text += f"; last: {self.last_changes}"
        if self.kind == CalendarKind.CALDAV:
            text += f"; {self.published} published, {self.waiting_to_publish} to publish"
        if self.conflicts:
            text += f"; {self.conflicts} appointment(s) in conflict, to move"
        if self.state in ("failing", "stale") and self.last_error:
            text += (f"\n    error {_short(self.last_error_at)}: {self.last_error}; slots use "
                     f"the busy time imported {when}")
        return text


def _short(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def _practitioner(session: Session, practice_id: int, practitioner_id: int) -> Practitioner:
    person = session.get(Practitioner, practitioner_id)
    if person is None or person.practice_id != practice_id:
        raise CalendarLinkError(f"no practitioner {practitioner_id} in this practice")
    return person


def link_calendar(
    session: Session,
    keyring: Keyring,
    practice_id: int,
    practitioner_id: int,
    source: CalendarSource,
    *,
    owner_addresses: str | None = None,
    actor: str,
    purpose: str | None = None,
    now: datetime | None = None,
) -> CalendarLink:
    """Link (or re-link) a practitioner's calendar; the first sync is requested at once.

    A re-link forgets what the previous calendar gave (busy time, published events).
    With CalDAV, every upcoming appointment of the practitioner is queued for publishing.
    """
    audit_events.require_actor(actor)
    now = now or utcnow()
    _practitioner(session, practice_id, practitioner_id)
    replaced = session.scalar(
        select(CalendarLink).where(CalendarLink.practitioner_id == practitioner_id))
    if replaced is not None:
        session.delete(replaced)
        session.flush()
    addresses = ",".join(sorted({a.strip().lower().removeprefix("mailto:")
                                 for a in (owner_addresses or "").split(",") if a.strip()}))
    row = CalendarLink(
        practice_id=practice_id, practitioner_id=practitioner_id, kind=source.kind,
        server=source.server, sealed_source=seal(keyring, practitioner_id, source),
        owner_addresses=addresses[:500] or None, created_at=now, created_by=actor[:128],
        sync_requested_at=now, failures=0, events_count=0, busy_count=0, last_requests=0,
    )
    session.add(row)
    session.flush()
    queued = 0
    if source.kind is CalendarKind.CALDAV:
        queued = _queue_upcoming(session, [practitioner_id], now)
    audit_events.record(
        session,
        audit_events.Action("calendar.link", "calendar_link",
                            "link a practitioner's calendar"),
        audit_events.Who(actor, purpose),
        object_id=row.id,
        practice_id=practice_id,
        detail={"practitioner_id": practitioner_id, "kind": str(source.kind),
                "server": source.server, "replaced": replaced is not None,
                "appointments_queued": queued},
    )
    return row


def _queue_upcoming(session: Session, practitioner_ids: list[int], now: datetime) -> int:
    rows = list(session.scalars(select(Appointment).where(
        Appointment.practitioner_id.in_(practitioner_ids),
        Appointment.status == AppointmentStatus.BOOKED,
        Appointment.ends_at > now,
    ).order_by(Appointment.starts_at)))
    for row in rows:
        record_change(session, row)
    return len(rows)


def unlink_calendar(
    session: Session, practice_id: int, practitioner_id: int, *, actor: str,
    purpose: str | None = None,
) -> bool:
    """Forget a practitioner's calendar: its credentials, busy time, conflicts, queue.

    Events Telesec published there stay in that calendar (Telesec no longer has the
    credentials to remove them); the practitioner may delete them.
    """
    audit_events.require_actor(actor)
    _practitioner(session, practice_id, practitioner_id)
    row = session.scalar(
        select(CalendarLink).where(CalendarLink.practitioner_id == practitioner_id))
    if row is None:
        return False
    detail = {"practitioner_id": practitioner_id, "kind": str(row.kind), "server": row.server}
    link_id = row.id
    session.execute(delete(CalendarOutbox).where(CalendarOutbox.appointment_id.in_(
        select(Appointment.id).where(Appointment.practitioner_id == practitioner_id))))
    session.delete(row)
    session.flush()
    audit_events.record(
        session,
        audit_events.Action("calendar.unlink", "calendar_link",
                            "unlink a practitioner's calendar"),
        audit_events.Who(actor, purpose),
        object_id=link_id,
        practice_id=practice_id,
        detail=detail,
    )
    return True


def settings_of(session: Session, practice_id: int) -> CalendarSettingsView:
    row = session.get(PracticeCalendarSettings, practice_id)
    if row is None:
        return CalendarSettingsView(practice_id, True, False, False, None, None)
    return CalendarSettingsView(practice_id, row.tentative_blocks, row.declined_blocks,
                                row.publish_patient_identity, row.updated_at, row.updated_by)


def update_settings(
    session: Session,
    practice_id: int,
    *,
    tentative_blocks: bool | None = None,
    declined_blocks: bool | None = None,
    publish_patient_identity: bool | None = None,
    actor: str,
    purpose: str | None = None,
    now: datetime | None = None,
) -> CalendarSettingsView:
    """Change the practice's calendar settings; audited when something changes.

    Turning patient identity publishing on or off queues every upcoming published
    appointment again, so that names appear in, or disappear from, the calendars.
    """
    audit_events.require_actor(actor)
    now = now or utcnow()
    row = session.get(PracticeCalendarSettings, practice_id)
    if row is None:
        row = PracticeCalendarSettings(practice_id=practice_id, tentative_blocks=True,
                                       declined_blocks=False, publish_patient_identity=False,
                                       updated_at=now, updated_by=actor[:128])
        session.add(row)
    wanted = {"tentative_blocks": tentative_blocks, "declined_blocks": declined_blocks,
              "publish_patient_identity": publish_patient_identity}
    changes = {name: value for name, value in wanted.items()
               if value is not None and getattr(row, name) != value}
    if not changes:
        session.flush()
        return settings_of(session, practice_id)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at, row.updated_by = now, actor[:128]
    session.flush()
    queued = 0
    if "publish_patient_identity" in changes:
        linked = list(session.scalars(select(CalendarLink.practitioner_id).where(
            CalendarLink.practice_id == practice_id, CalendarLink.kind == CalendarKind.CALDAV)))
        queued = _queue_upcoming(session, linked, now) if linked else 0
        if changes["publish_patient_identity"]:
            log.warning("practice %d now publishes patients' names and numbers to its "
                        "practitioners' calendars (turned on by an admin; audited)", practice_id)
    audit_events.record(
        session,
        audit_events.Action("calendar.settings.update", "practice_calendar_settings",
                            "change what the practitioners' calendars receive and block"),
        audit_events.Who(actor, purpose),
        object_id=practice_id,
        practice_id=practice_id,
        detail={**changes, "appointments_queued": queued},
    )
    return settings_of(session, practice_id)


def request_sync(
    session: Session, practice_id: int, practitioner_id: int | None = None, *,
    actor: str, now: datetime | None = None,
) -> int:
    """Ask the sync job to sync now (the API never touches the network); returns how many."""
    audit_events.require_actor(actor)
    query = select(CalendarLink).where(CalendarLink.practice_id == practice_id)
    if practitioner_id is not None:
        query = query.where(CalendarLink.practitioner_id == practitioner_id)
    rows = list(session.scalars(query))
    for row in rows:
        row.sync_requested_at = now or utcnow()
    if rows:
        audit_events.record(
            session,
            audit_events.Action("calendar.sync.request", "calendar_link",
                                "synchronise the practitioners' calendars now"),
            audit_events.Who(actor, None),
            object_id=rows[0].id if len(rows) == 1 else None,
            practice_id=practice_id,
            detail={"links": len(rows)},
        )
    return len(rows)


def statuses(
    session: Session, practice_id: int, *, interval: timedelta, now: datetime | None = None,
) -> list[LinkStatus]:
    """Every active practitioner of the practice with their calendar's state."""
    now = now or utcnow()
    people = list(session.scalars(select(Practitioner).where(
        Practitioner.practice_id == practice_id).order_by(Practitioner.id)))
    links = {row.practitioner_id: row for row in session.scalars(
        select(CalendarLink).where(CalendarLink.practice_id == practice_id))}
    waiting = dict(session.execute(
        select(Appointment.practitioner_id, func.count(func.distinct(
            CalendarOutbox.root_appointment_id)))
        .join(Appointment, Appointment.id == CalendarOutbox.appointment_id)
        .where(Appointment.practice_id == practice_id)
        .group_by(Appointment.practitioner_id)).all())
    published = dict(session.execute(
        select(CalendarPublication.link_id, func.count())
        .group_by(CalendarPublication.link_id)).all())
    conflicts = dict(session.execute(
        select(CalendarConflict.practitioner_id, func.count())
        .join(Appointment, Appointment.id == CalendarConflict.appointment_id)
        .where(CalendarConflict.practice_id == practice_id,
               Appointment.status == AppointmentStatus.BOOKED)
        .group_by(CalendarConflict.practitioner_id)).all())
    found = []
    for person in people:
        row = links.get(person.id)
        if row is None:
            if person.active:
                found.append(LinkStatus(person.id, person.slug, person.display_name, False))
            continue
        found.append(LinkStatus(
            practitioner_id=person.id, practitioner_slug=person.slug,
            practitioner_name=person.display_name, linked=True, kind=str(row.kind),
            server=row.server, state=_state(row, interval, now),
            last_attempt_at=row.last_attempt_at, last_success_at=row.last_success_at,
            last_error=row.last_error, last_error_at=row.last_error_at,
            events=row.events_count, busy_periods=row.busy_count,
            last_changes=row.last_changes, last_requests=row.last_requests,
            waiting_to_publish=waiting.get(person.id, 0), published=published.get(row.id, 0),
            conflicts=conflicts.get(person.id, 0),
            sync_requested=row.sync_requested_at is not None,
        ))
    return found


def _state(row: CalendarLink, interval: timedelta, now: datetime) -> str:
    if row.last_error is not None:
        return "failing"
    if row.last_success_at is None:
        return "pending"
    if now - row.last_success_at > interval * STALE_AFTER_INTERVALS:
        return "stale"
    return "ok"


@dataclass(frozen=True, slots=True)
class ConflictView:
    appointment_id: int
    practitioner_id: int
    starts_at: datetime
    ends_at: datetime
    busy_starts_at: datetime
    busy_ends_at: datetime
    detected_at: datetime


def open_conflicts(
    session: Session, practice_id: int, starts_at: datetime, ends_at: datetime,
    practitioner_id: int | None = None,
) -> list[ConflictView]:
    """Booked appointments starting in [starts_at, ends_at) that a busy period overlaps."""
    query = (
        select(CalendarConflict, Appointment)
        .join(Appointment, Appointment.id == CalendarConflict.appointment_id)
        .where(CalendarConflict.practice_id == practice_id,
               Appointment.status == AppointmentStatus.BOOKED,
               Appointment.starts_at >= starts_at, Appointment.starts_at < ends_at)
        .order_by(Appointment.starts_at, CalendarConflict.id)
    )
    if practitioner_id is not None:
        query = query.where(CalendarConflict.practitioner_id == practitioner_id)
    seen: dict[int, ConflictView] = {}
    for conflict, appointment in session.execute(query):
        seen.setdefault(appointment.id, ConflictView(
            appointment.id, appointment.practitioner_id, appointment.starts_at,
            appointment.ends_at, conflict.busy_starts_at, conflict.busy_ends_at,
            conflict.detected_at))
    return list(seen.values())


def reseal_all(session: Session, keyring: Keyring) -> int:
    """Seal every link's source again under the current key (after ``keys rotate``)."""
    count = 0
    for row in session.scalars(select(CalendarLink)):
        if sealed_kek_id(row.sealed_source) != keyring.current_kek_id:
            source = open_sealed(keyring, row.practitioner_id, row.sealed_source)
            row.sealed_source = seal(keyring, row.practitioner_id, source)
            count += 1
    return count
