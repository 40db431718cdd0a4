"""When practitioners see patients: their weekly opening hours, and whether a time fits them.

The hours themselves are pure values (:mod:`scheduling.slots`); this module reads them,
with the closures of the period, from the caller's session.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduling import imported_busy, occupancy
from scheduling.slots import WeeklyOpening, fits_opening, windows_on
from scheduling.values import Reason, Refused
from storage.models import OpeningTemplate, Practice, Practitioner


def weekly_openings(session: Session, people: Sequence[Practitioner]) -> list[WeeklyOpening]:
    """The weekly opening hours of ``people``."""
    rows = session.execute(
        select(
            OpeningTemplate.practitioner_id,
            OpeningTemplate.weekday,
            OpeningTemplate.start_time,
            OpeningTemplate.end_time,
        ).where(OpeningTemplate.practitioner_id.in_([p.id for p in people]))
    )
    return [WeeklyOpening(*row) for row in rows]


def opening_refusal(
    session: Session,
    place: Practice,
    person: Practitioner,
    starts_at: datetime,
    ends_at: datetime,
) -> Refused | None:
    """Refused(OUTSIDE_OPENING_HOURS) unless [starts_at, ends_at) is open and not closed."""
    zone = ZoneInfo(place.timezone)
    day = starts_at.astimezone(zone).date()
    windows = windows_on(day, weekly_openings(session, [person]), zone)
    closed = occupancy.closures(session, place.id, [person.id], starts_at, ends_at)
    closed += imported_busy.periods(session, place.id, [person.id], starts_at, ends_at)
    if fits_opening(person.id, starts_at, ends_at, windows, closed):
        return None
    return Refused(
        Reason.OUTSIDE_OPENING_HOURS, f"{person.display_name} does not see patients then"
    )
