"""The calendar outbox: each booking, move or cancellation queued for the practitioners'
calendars in the transaction that makes it.

No network here: the calendar sync job (:mod:`calendars.publisher`) drains the queue,
so a booking never waits for a calendar server and nothing is lost while one is down.
Only practitioners with a two-way (CalDAV) calendar get rows.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Exists, exists, select
from sqlalchemy.orm import Session

from storage.models import Appointment, CalendarKind, CalendarLink, CalendarOutbox, utcnow


def root_of(session: Session, appointment: Appointment) -> int:
    """The first appointment of a chain of moves: its id names the published event."""
    row = appointment
    while row.replaces_id is not None:
        row = session.get_one(Appointment, row.replaces_id)
    return row.id


def linked(practitioner_id: int | ColumnElement[int]) -> Exists:
    """EXISTS: the practitioner has a two-way (CalDAV) calendar, whose rows we queue."""
    return exists().where(CalendarLink.practitioner_id == practitioner_id,
                          CalendarLink.kind == CalendarKind.CALDAV)


def record_change(session: Session, *appointments: Appointment,
                  any_linked: bool | None = None) -> None:
    """Queue the current state of ``appointments`` (one chain: an old and its new one).

    ``any_linked`` says whether one of their practitioners has a CalDAV calendar, when
    the caller has read it already (:func:`linked`); otherwise it is read here.
    """
    if any_linked is None:
        practitioners = {row.practitioner_id for row in appointments}
        any_linked = session.scalar(
            select(CalendarLink.id)
            .where(CalendarLink.practitioner_id.in_(practitioners),
                   CalendarLink.kind == CalendarKind.CALDAV)
            .limit(1)
        ) is not None
    if not any_linked:
        return
    root = root_of(session, appointments[0])
    now = utcnow()
    session.add_all(
        CalendarOutbox(root_appointment_id=root, appointment_id=row.id, created_at=now)
        for row in appointments
    )
    session.flush()
