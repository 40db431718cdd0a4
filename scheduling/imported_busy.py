"""Busy time imported from practitioners' own calendars, read by slot search like closures.

The calendar sync (:mod:`calendars`) stores busy periods in ``imported_busy``; slot search
and the opening check of a hold read them from the database only, never from the
network. Which periods block depends on the practice's calendar settings: confirmed busy
time always does, tentative time by default, declined invitations only if asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, bindparam, false, func, or_, select, true

from scheduling.clock import CELL, cells
from storage.models import Attendance, ImportedBusy, PracticeCalendarSettings, UTCDateTime

# Built once (parameters: practice_id, practitioner_ids, starts_at, ends_at): slot search
# runs it for every chunk of days it looks at, a hold's opening check with the closures
# (:mod:`scheduling.openings`), and building a statement costs more than running it. The
# practice's settings come in by an outer join (no row: the defaults, tentative blocks
# and declined does not).
BLOCKING_PERIODS = (
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


def mark_cells(
    busy: dict[int, set[datetime]],
    periods: Iterable[tuple[int, datetime, datetime]],
    starts_at: datetime,
    ends_at: datetime,
) -> None:
    """Mark the 5-minute cells of [starts_at, ends_at) that the imported busy ``periods``
    (practitioner, start, end: rows of :data:`BLOCKING_PERIODS`) touch as busy, in place.

    Slots start on the cell grid, so a slot overlaps a busy period exactly when it
    shares a cell with it: the search then skips it as it skips booked time.
    """
    for person, start, end in periods:
        first = max(start, starts_at)
        first -= (first - first.replace(minute=0, second=0, microsecond=0)) % CELL
        busy.setdefault(person, set()).update(cells(first, min(end, ends_at)))
