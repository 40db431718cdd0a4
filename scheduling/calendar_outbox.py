"""The calendar outbox: each booking, move or cancellation queued for the practitioners'
calendars in the transaction that makes it.

No network here: the calendar sync job (:mod:`calendars.publisher`) drains the queue,
so a booking never waits for a calendar server and nothing is lost while one is down.
Only practitioners with a two-way (CalDAV) calendar get rows.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Appointment, CalendarKind, CalendarLink, CalendarOutbox, utcnow


def root_of(session: Session, appointment: Appointment) -> int:
    """The first appointment of a chain of moves: its id names the published event."""
    row = appointment
    while row.replaces_id is not None:
        row = session.get_one(Appointment, row.replaces_id)
    return row.id


def record_change(session: Session, *appointments: Appointment) -> None:
    """Queue the current state of ``appointments`` (one chain: an old and its new one)."""
    practitioners = {row.practitioner_id for row in appointments}
    linked = session.scalar(
        select(CalendarLink.id)
        .where(CalendarLink.practitioner_id.in_(practitioners),
               CalendarLink.kind == CalendarKind.CALDAV)
        .limit(1)
    )
    if linked is None:
        return
    root = root_of(session, appointments[0])
    now = utcnow()
    session.add_all(
        CalendarOutbox(root_appointment_id=root, appointment_id=row.id, created_at=now)
        for row in appointments
    )
    session.flush()
