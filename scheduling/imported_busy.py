"""Busy time imported from practitioners' own calendars, read by slot search like closures.

The calendar sync (:mod:`calendars`) stores busy periods in ``imported_busy``; slot search
and the opening check of a hold read them from the database only, never from the
network. Which periods block depends on the practice's calendar settings: confirmed busy
time always does, tentative time by default, declined invitations only if asked.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import and_, bindparam, false, func, or_, select, true
from sqlalchemy.orm import Session

from scheduling.clock import CELL, cells
from scheduling.slots import Closure
from storage.models import Attendance, ImportedBusy, PracticeCalendarSettings, UTCDateTime

# Built once: slot search runs it for every chunk of days it looks at, and building a
# statement costs more than running it. The practice's settings come in by an outer join
# (no row: the defaults, tentative blocks and declined does not).
_BLOCKING_PERIODS = (
    select(ImportedBusy.practitioner_id, ImportedBusy.starts_at, ImportedBusy.ends_at)
    .outerjoin(PracticeCalendarSettings,
               PracticeCalendarSettings.practice_id == bindparam("practice_id"))
    .where(
        ImportedBusy.practitioner_id.in_(bindparam("practitioner_ids", expanding=True)),
        ImportedBusy.ends_at > bindparam("starts_at", type_=UTCDateTime()),
        ImportedBusy.starts_at < bindparam("ends_at", type_=UTCDateTime()),
        or_(
            ImportedBusy.attendance == Attendance.BUSY,
            and_(ImportedBusy.attendance == Attendance.TENTATIVE,
                 func.coalesce(PracticeCalendarSettings.tentative_blocks, true()).is_(True)),
            and_(ImportedBusy.attendance == Attendance.DECLINED,
                 func.coalesce(PracticeCalendarSettings.declined_blocks, false()).is_(True)),
        ),
    )
)


def periods(
    session: Session,
    practice_id: int,
    practitioner_ids: Collection[int],
    starts_at: datetime,
    ends_at: datetime,
) -> list[Closure]:
    """The blocking imported busy periods overlapping [starts_at, ends_at), as closures."""
    return [Closure(*row) for row in _rows(session, practice_id, practitioner_ids, starts_at,
                                           ends_at)]


def _rows(
    session: Session,
    practice_id: int,
    practitioner_ids: Collection[int],
    starts_at: datetime,
    ends_at: datetime,
) -> list[tuple[int, datetime, datetime]]:
    rows = session.execute(_BLOCKING_PERIODS, {
        "practice_id": practice_id, "practitioner_ids": list(practitioner_ids),
        "starts_at": starts_at, "ends_at": ends_at})
    return [(person, start, end) for person, start, end in rows]


def add_busy_cells(
    session: Session,
    busy: dict[int, set[datetime]],
    practice_id: int,
    practitioner_ids: Collection[int],
    starts_at: datetime,
    ends_at: datetime,
) -> None:
    """Mark the 5-minute cells that imported busy time touches as busy, in place.

    Slots start on the cell grid, so a slot overlaps a busy period exactly when it
    shares a cell with it: the search then skips it as it skips booked time.
    """
    for person, start, end in _rows(session, practice_id, practitioner_ids, starts_at, ends_at):
        first = max(start, starts_at)
        first -= (first - first.replace(minute=0, second=0, microsecond=0)) % CELL
        busy.setdefault(person, set()).update(cells(first, min(end, ends_at)))
