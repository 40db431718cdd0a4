"""The occupied 5-minute cells of practitioners' time: the database's guard against overlaps.

Every function works inside the caller's transaction. Inserting cells that another
appointment or live hold already occupies raises ``IntegrityError`` on the primary key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from scheduling.clock import cells
from scheduling.slots import Closure
from storage.models import Hold, ScheduleException, SlotCell


def occupy(
    session: Session,
    practitioner_id: int,
    starts_at: datetime,
    ends_at: datetime,
    *,
    appointment_id: int | None = None,
    hold_id: str | None = None,
) -> None:
    """Insert the cells of [starts_at, ends_at) for one owner (appointment or hold)."""
    session.execute(
        insert(SlotCell),
        [
            {
                "practitioner_id": practitioner_id,
                "cell_start": cell,
                "appointment_id": appointment_id,
                "hold_id": hold_id,
            }
            for cell in cells(starts_at, ends_at)
        ],
    )


def hand_hold_to_appointment(session: Session, hold_id: str, appointment_id: int) -> int:
    """Give the cells of a hold to the appointment it became; returns how many moved."""
    result = session.execute(
        update(SlotCell)
        .where(SlotCell.hold_id == hold_id)
        .values(appointment_id=appointment_id, hold_id=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def free_appointment(session: Session, appointment_id: int) -> None:
    session.execute(
        delete(SlotCell)
        .where(SlotCell.appointment_id == appointment_id)
        .execution_options(synchronize_session=False)
    )


def drop_holds(session: Session, hold_ids: Collection[str]) -> None:
    """Delete holds and their cells."""
    if not hold_ids:
        return
    session.execute(
        delete(SlotCell)
        .where(SlotCell.hold_id.in_(hold_ids))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(Hold).where(Hold.id.in_(hold_ids)).execution_options(synchronize_session=False)
    )


def drop_handed_over_hold(session: Session, hold_id: str) -> None:
    """Delete a hold whose cells :func:`hand_hold_to_appointment` gave away (it has none)."""
    session.execute(
        delete(Hold).where(Hold.id == hold_id).execution_options(synchronize_session=False)
    )


def drop_expired_holds(
    session: Session,
    now: datetime,
    *,
    practitioner_id: int | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> int:
    """Delete expired holds (optionally only those of one practitioner overlapping a span)."""
    query = select(Hold.id).where(Hold.expires_at <= now)
    if practitioner_id is not None:
        query = query.where(Hold.practitioner_id == practitioner_id)
    if starts_at is not None and ends_at is not None:
        query = query.where(Hold.starts_at < ends_at, Hold.ends_at > starts_at)
    expired = list(session.scalars(query))
    drop_holds(session, expired)
    return len(expired)


def busy_cells(
    session: Session,
    practitioner_ids: Collection[int],
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
) -> dict[int, set[datetime]]:
    """Cells held by appointments or live holds, per practitioner, in [starts_at, ends_at)."""
    rows = session.execute(
        select(SlotCell.practitioner_id, SlotCell.cell_start)
        .outerjoin(Hold, SlotCell.hold_id == Hold.id)
        .where(
            SlotCell.practitioner_id.in_(practitioner_ids),
            SlotCell.cell_start >= starts_at,
            SlotCell.cell_start < ends_at,
            or_(SlotCell.hold_id.is_(None), Hold.expires_at > now),
        )
    )
    busy: dict[int, set[datetime]] = defaultdict(set)
    for practitioner_id, cell_start in rows:
        busy[practitioner_id].add(cell_start)
    return busy


def closures(
    session: Session,
    practice_id: int,
    practitioner_ids: Collection[int],
    starts_at: datetime,
    ends_at: datetime,
) -> list[Closure]:
    """Practice holidays and the practitioners' absences or blocks overlapping the span."""
    rows = session.scalars(
        select(ScheduleException).where(
            ScheduleException.practice_id == practice_id,
            ScheduleException.ends_at > starts_at,
            ScheduleException.starts_at < ends_at,
            or_(
                ScheduleException.practitioner_id.is_(None),
                and_(ScheduleException.practitioner_id.in_(practitioner_ids)),
            ),
        )
    )
    return [Closure(r.practitioner_id, r.starts_at, r.ends_at) for r in rows]
