"""When practitioners see patients: their weekly opening hours, and whether a time fits them.

The hours themselves are pure values (:mod:`scheduling.slots`); this module reads them,
with the closures of the period, from the caller's session.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, union_all
from sqlalchemy.orm import Session

from scheduling import imported_busy, occupancy
from scheduling.slots import Closure, WeeklyOpening, fits_opening, windows_on
from scheduling.values import Reason, Refused
from storage.models import OpeningTemplate, Practice, Practitioner

_OPENINGS = select(
    OpeningTemplate.practitioner_id,
    OpeningTemplate.weekday,
    OpeningTemplate.start_time,
    OpeningTemplate.end_time,
).where(OpeningTemplate.practitioner_id.in_(bindparam("ids", expanding=True)))
# Closures and blocking imported busy time, in one round trip.
_CLOSED = union_all(occupancy.CLOSURES, imported_busy.BLOCKING_PERIODS)


def weekly_openings(session: Session, people: Sequence[Practitioner]) -> list[WeeklyOpening]:
    """The weekly opening hours of ``people``."""
    rows = session.execute(_OPENINGS, {"ids": [p.id for p in people]})
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
    closed = [Closure(*row) for row in session.execute(_CLOSED, {
        "practice_id": place.id, "practitioner_ids": [person.id], "starts_at": starts_at,
        "ends_at": ends_at})]
    if fits_opening(person.id, starts_at, ends_at, windows, closed):
        return None
    return Refused(
        Reason.OUTSIDE_OPENING_HOURS, f"{person.display_name} does not see patients then"
    )
