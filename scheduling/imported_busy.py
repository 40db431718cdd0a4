"""Busy time imported from practitioners' own calendars, read by slot search like closures.

The calendar sync (:mod:`calendars`) stores busy periods in ``imported_busy``; slot search
and the opening check of a hold read them from the database only, never from the
network. Which periods block depends on the practice's calendar settings: confirmed busy
time always does, tentative time by default, declined invitations only if asked.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from scheduling.clock import CELL, cells
from scheduling.slots import Closure
from storage.models import Attendance, ImportedBusy, PracticeCalendarSettings


def _blocking(practice_id: int) -> ColumnElement[bool]:
    """The rows whose attendance blocks slots under the practice's settings (one query)."""
    settings = select(PracticeCalendarSettings).where(
        PracticeCalendarSettings.practice_id == practice_id
    )
    tentative = settings.with_only_columns(PracticeCalendarSettings.tentative_blocks)
    declined = settings.with_only_columns(PracticeCalendarSettings.declined_blocks)
    return or_(
        ImportedBusy.attendance == Attendance.BUSY,
        and_(ImportedBusy.attendance == Attendance.TENTATIVE,
             func.coalesce(tentative.scalar_subquery(), literal(True)).is_(True)),
        and_(ImportedBusy.attendance == Attendance.DECLINED,
             func.coalesce(declined.scalar_subquery(), literal(False)).is_(True)),
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
    rows = session.execute(
        select(ImportedBusy.practitioner_id, ImportedBusy.starts_at, ImportedBusy.ends_at).where(
            ImportedBusy.practitioner_id.in_(practitioner_ids),
            ImportedBusy.ends_at > starts_at,
            ImportedBusy.starts_at < ends_at,
            _blocking(practice_id),
        )
    )
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
