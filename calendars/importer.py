"""Apply what a sync read from a calendar to the database, in one transaction.

The network has already been read and the iCalendar data expanded (outside any
transaction); here only rows change: remote events and their busy periods, the sync
token, the link's status, and conflicts. Either everything of one sync is committed,
with its new sync token, or nothing is: a sync cut short leaves the last imported state
and the old token, and the next one starts again from there.

Telesec's own published events are recognised by their href (``calendar_publications``):
they are not busy time. One that the remote side changed or deleted is queued again,
so that the appointment, which still stands, is restored in the calendar: a remote
deletion never deletes an appointment.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.orm import Session

from calendars.busy_time import ParsedResource
from scheduling import audit_events
from scheduling.calendar_outbox import record_change
from storage.models import (
    Appointment,
    AppointmentStatus,
    Attendance,
    CalendarConflict,
    CalendarLink,
    CalendarPublication,
    CalendarRemoteEvent,
    ImportedBusy,
    PracticeCalendarSettings,
)

log = logging.getLogger(__name__)
ACTOR = "system:calendar-sync"
KEEP_PAST = timedelta(days=1)


@dataclass
class Fetched:
    """One remote resource read in this sync (``resource`` None: unreadable data)."""

    path: str
    etag: str | None
    resource: ParsedResource | None


@dataclass
class ImportResult:
    added: int = 0
    changed: int = 0
    deleted: int = 0
    unreadable: int = 0
    restored: int = 0  # Telesec's own events changed or deleted remotely, queued again
    new_conflicts: list[int] = field(default_factory=list)  # appointment ids
    resolved_conflicts: int = 0

    def summary(self) -> str:
        parts = [f"{self.added} new, {self.changed} changed, {self.deleted} deleted"]
        if self.unreadable:
            parts.append(f"{self.unreadable} unreadable skipped")
        if self.restored:
            parts.append(f"{self.restored} Telesec event(s) restored")
        if self.new_conflicts:
            parts.append(f"{len(self.new_conflicts)} new conflict(s)")
        if self.resolved_conflicts:
            parts.append(f"{self.resolved_conflicts} conflict(s) resolved")
        return "; ".join(parts)


def apply_import(
    session: Session,
    link_id: int,
    *,
    fetched: Sequence[Fetched],
    deleted: set[str],
    listed: dict[str, str | None] | None,
    complete: bool,
    token: str | None,
    mode: str,
    source_etag: str | None,
    expanded_until: datetime | None,
    now: datetime,
    requests: int,
) -> ImportResult:
    """Write one sync's result for ``link_id`` (see the module docstring)."""
    result = ImportResult()
    link = session.get_one(CalendarLink, link_id, with_for_update=True)
    known = {row.href: row for row in session.scalars(
        select(CalendarRemoteEvent).where(CalendarRemoteEvent.link_id == link_id))}
    published = {row.href: row for row in session.scalars(
        select(CalendarPublication).where(CalendarPublication.link_id == link_id))}
    listed = listed or {}

    # Telesec's own events: changed or gone on the remote side -> publish them again
    own_gone = {p for p in published if p in deleted or (complete and p not in listed)}
    own_edited = {p for p, etag in listed.items() if p in published and etag
                  and published[p].etag and etag != published[p].etag}
    for path, row in published.items():
        if path in listed and row.etag is None:
            row.etag = listed[path]  # a server that gave no ETag on PUT
    for path in sorted(own_gone | own_edited):
        _republish(session, published[path])
        result.restored += 1

    gone = {p for p in deleted if p in known}
    if complete:
        gone |= {p for p in known if p not in listed and p not in {f.path for f in fetched}}
    if gone:
        session.execute(delete(CalendarRemoteEvent).where(
            CalendarRemoteEvent.link_id == link_id, CalendarRemoteEvent.href.in_(gone)))
        result.deleted = len(gone)

    ids: dict[str, int] = {}
    fresh = [item for item in fetched if item.path not in known]
    if fresh:  # one INSERT ... RETURNING for all new events
        ids.update((href, event_id) for event_id, href in session.execute(
            insert(CalendarRemoteEvent).returning(CalendarRemoteEvent.id,
                                                  CalendarRemoteEvent.href),
            [{"link_id": link_id, "href": item.path[:1000], "etag": item.etag,
              "open_ended": bool(item.resource and item.resource.recurring)}
             for item in fresh]))
        result.added = len(fresh)
    again = [item for item in fetched if item.path in known]
    for item in again:
        row = known[item.path]
        result.changed += row.etag != item.etag
        row.etag = item.etag
        row.open_ended = bool(item.resource and item.resource.recurring)
        ids[item.path] = row.id
    old_ids = [known[item.path].id for item in again]
    for first in range(0, len(old_ids), 500):
        session.execute(delete(ImportedBusy).where(
            ImportedBusy.remote_event_id.in_(old_ids[first:first + 500])))
    new_busy: list[tuple[int, datetime, datetime, Attendance]] = []
    for item in fetched:
        if item.resource is None:
            result.unreadable += 1
            continue
        new_busy.extend((ids[item.path], span.starts_at, span.ends_at, span.attendance)
                        for span in item.resource.spans)
    if new_busy:
        session.execute(insert(ImportedBusy), [
            {"link_id": link_id, "remote_event_id": event_id,
             "practitioner_id": link.practitioner_id, "starts_at": start, "ends_at": end,
             "attendance": attendance}
            for event_id, start, end, attendance in new_busy
        ])
    session.execute(delete(ImportedBusy).where(ImportedBusy.link_id == link_id,
                                               ImportedBusy.ends_at < now - KEEP_PAST))

    _find_conflicts(session, link, new_busy, now, result)
    _resolve_conflicts(session, link, result)

    link.sync_token = token
    link.sync_mode = mode
    link.source_etag = source_etag
    if expanded_until is not None:
        link.expanded_until = expanded_until
    link.last_success_at = now
    link.last_error = link.last_error_at = None
    link.failures = 0
    link.last_requests = requests
    link.events_count = _count(session, CalendarRemoteEvent.link_id, link_id)
    link.busy_count = _count(session, ImportedBusy.link_id, link_id)
    link.last_changes = result.summary()[:300]
    return result


def _count(session: Session, column: Any, link_id: int) -> int:
    return int(session.scalar(select(func.count()).where(column == link_id)) or 0)


def _republish(session: Session, publication: CalendarPublication) -> None:
    """Queue an appointment again and forget the copy that the remote side lost."""
    appointment = session.get(Appointment, publication.appointment_id)
    session.delete(publication)
    session.flush()
    if appointment is not None:
        record_change(session, appointment)


def _blocks(session: Session, practice_id: int, attendance: Attendance) -> bool:
    settings = session.get(PracticeCalendarSettings, practice_id)
    if attendance is Attendance.TENTATIVE:
        return settings.tentative_blocks if settings else True
    if attendance is Attendance.DECLINED:
        return settings.declined_blocks if settings else False
    return True


def _find_conflicts(
    session: Session,
    link: CalendarLink,
    new_busy: list[tuple[int, datetime, datetime, Attendance]],
    now: datetime,
    result: ImportResult,
) -> None:
    """Booked appointments that newly imported busy periods overlap become conflicts."""
    blocking = {a for a in Attendance if _blocks(session, link.practice_id, a)}
    spans = [b for b in new_busy if b[2] > now and b[3] in blocking]
    if not spans:
        return
    first = min(s[1] for s in spans)
    last = max(s[2] for s in spans)
    booked = list(session.execute(
        select(Appointment.id, Appointment.starts_at, Appointment.ends_at).where(
            Appointment.practitioner_id == link.practitioner_id,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at < last, Appointment.ends_at > max(first, now),
        ).order_by(Appointment.ends_at)))
    if not booked:
        return
    ends = [row[2] for row in booked]  # a practitioner's appointments never overlap
    existing = set(session.execute(
        select(CalendarConflict.appointment_id, CalendarConflict.remote_event_id).where(
            CalendarConflict.practitioner_id == link.practitioner_id)))
    for event_id, start, end, _attendance in spans:
        index = bisect.bisect_right(ends, start)
        while index < len(booked) and booked[index][1] < end:
            appointment_id = booked[index][0]
            index += 1
            if (appointment_id, event_id) in existing:
                continue
            existing.add((appointment_id, event_id))
            session.add(CalendarConflict(
                appointment_id=appointment_id, remote_event_id=event_id,
                practice_id=link.practice_id, practitioner_id=link.practitioner_id,
                busy_starts_at=start, busy_ends_at=end, detected_at=now))
            if appointment_id not in result.new_conflicts:
                result.new_conflicts.append(appointment_id)
    session.flush()
    if result.new_conflicts:  # one audit event and one log line per sync, ids only
        audit_events.record(
            session,
            audit_events.Action("calendar.conflict", "calendar_link",
                                "flag appointments that the practitioner's calendar overlaps"),
            audit_events.Who(ACTOR, None),
            object_id=link.id,
            practice_id=link.practice_id,
            detail={"practitioner_id": link.practitioner_id,
                    "appointments": result.new_conflicts[:500],
                    "count": len(result.new_conflicts)},
        )
        log.warning("calendar of practitioner %d: %d booked appointment(s) now overlap busy "
                    "time (first: %s); secretaries see them flagged in the agenda, to move",
                    link.practitioner_id, len(result.new_conflicts),
                    ", ".join(str(i) for i in result.new_conflicts[:5]))


def _resolve_conflicts(session: Session, link: CalendarLink, result: ImportResult) -> None:
    """Drop conflicts whose appointment moved or went, or whose busy period did (2 queries)."""
    blocking = [a for a in Attendance if _blocks(session, link.practice_id, a)]
    standing = (
        select(CalendarConflict.id)
        .join(Appointment, Appointment.id == CalendarConflict.appointment_id)
        .join(ImportedBusy, and_(
            ImportedBusy.remote_event_id == CalendarConflict.remote_event_id,
            ImportedBusy.starts_at < Appointment.ends_at,
            ImportedBusy.ends_at > Appointment.starts_at))
        .where(CalendarConflict.practitioner_id == link.practitioner_id,
               Appointment.status == AppointmentStatus.BOOKED,
               ImportedBusy.attendance.in_(blocking))
    )
    gone = list(session.scalars(select(CalendarConflict.id).where(
        CalendarConflict.practitioner_id == link.practitioner_id,
        CalendarConflict.id.not_in(standing))))
    for first in range(0, len(gone), 500):
        session.execute(delete(CalendarConflict).where(
            CalendarConflict.id.in_(gone[first:first + 500])))
    result.resolved_conflicts += len(gone)
