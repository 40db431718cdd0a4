"""The occupied 5-minute cells of practitioners' time: the database's guard against overlaps.

Every function works inside the caller's transaction. Inserting cells that another
appointment or live hold already occupies raises ``IntegrityError`` on the primary key.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Select, bindparam, delete, func, insert, null, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from scheduling.clock import cells
from storage.models import Appointment, Hold, ScheduleException, SlotCell, UTCDateTime

_APPOINTMENTS = Appointment.__table__
_CELLS = SlotCell.__table__
_HOLDS = Hold.__table__
_HOLD_FIELDS = tuple(column.key for column in _HOLDS.columns)


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


BOOKED_FIELDS = ("practice_id", "practitioner_id", "patient_id", "visit_type_id", "starts_at",
                 "ends_at", "status", "idempotency_key", "booked_by", "created_at",
                 "replaces_id")
_NEW_APPOINTMENT = (insert(_APPOINTMENTS)
                    .values({name: bindparam(f"new_{name}", type_=_APPOINTMENTS.c[name].type)
                             for name in BOOKED_FIELDS})
                    .returning(_APPOINTMENTS.c.id))
_HAND_OVER = (update(_CELLS).where(_CELLS.c.hold_id == bindparam("hold_id"))
              .values(appointment_id=bindparam("appointment_id"), hold_id=null()))
_DROP_HOLD = delete(_HOLDS).where(_HOLDS.c.id == bindparam("hold_id"))


_NEW_HOLD = insert(_HOLDS).values(
    {name: bindparam(f"new_{name}", type_=_HOLDS.c[name].type) for name in _HOLD_FIELDS})
_HOLD_CELLS_PG = insert(_CELLS).from_select(
    ["practitioner_id", "cell_start", "hold_id"],
    select(bindparam("new_practitioner_id", type_=_CELLS.c.practitioner_id.type),
           func.unnest(bindparam("cells", type_=postgresql.ARRAY(UTCDateTime()))),
           bindparam("new_id", type_=_HOLDS.c.id.type)),
).add_cte(_NEW_HOLD.cte("new_hold"))


def hold_cells(session: Session, hold: Hold) -> None:
    """Insert the (not yet written) ``hold`` and the cells of its time: one statement on
    PostgreSQL, two on SQLite. Taken cells raise ``IntegrityError``."""
    conn = session.connection()
    values: dict[str, object] = {f"new_{name}": getattr(hold, name) for name in _HOLD_FIELDS}
    taken = list(cells(hold.starts_at, hold.ends_at))
    if conn.dialect.name == "postgresql":
        conn.execute(_HOLD_CELLS_PG, {**values, "cells": taken})
        return
    conn.execute(_NEW_HOLD, values)
    conn.execute(insert(_CELLS), [
        {"practitioner_id": hold.practitioner_id, "cell_start": cell, "hold_id": hold.id}
        for cell in taken])


def hand_hold_to_appointment(session: Session, hold_id: str, appointment_id: int) -> int:
    """Give the cells of a hold to the appointment it became; returns how many moved."""
    result = session.connection().execute(
        _HAND_OVER, {"hold_id": hold_id, "appointment_id": appointment_id})
    return result.rowcount


def _hold_to_appointment_pg() -> Select[tuple[int, int]]:
    """PostgreSQL: the appointment's INSERT, its cells taken from the hold and the hold's
    DELETE in one statement; answers (appointment id, cells handed over)."""
    made = _NEW_APPOINTMENT.cte("made")
    made_id = select(made.c.id).scalar_subquery()
    moved = (update(_CELLS).where(_CELLS.c.hold_id == bindparam("hold_id"))
             .values(appointment_id=made_id, hold_id=null())
             .returning(_CELLS.c.cell_start).cte("moved"))
    gone = _DROP_HOLD.returning(_HOLDS.c.id).cte("gone")
    return select(made_id, select(func.count()).select_from(moved).scalar_subquery()).add_cte(
        gone)


_HOLD_TO_APPOINTMENT_PG = _hold_to_appointment_pg()


def appointment_from_hold(session: Session, hold_id: str, fields: dict[str, object]
                          ) -> tuple[int, int]:
    """Insert the appointment ``fields`` (:data:`BOOKED_FIELDS`) describe, give it the
    cells of the hold ``hold_id`` and delete the hold (one statement on PostgreSQL, three
    on SQLite). Returns the appointment's id and how many cells it took over."""
    conn = session.connection()
    # parameters named apart from the columns: an UPDATE would SET a column they name
    values = {f"new_{name}": value for name, value in fields.items()}
    values["hold_id"] = hold_id
    if conn.dialect.name == "postgresql":
        made_id, moved = conn.execute(_HOLD_TO_APPOINTMENT_PG, values).one()
        return made_id, moved
    made_id = conn.execute(_NEW_APPOINTMENT, values).scalar_one()
    moved = hand_hold_to_appointment(session, hold_id, made_id)
    drop_handed_over_hold(session, hold_id)
    return made_id, moved


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
    session.connection().execute(_DROP_HOLD, {"hold_id": hold_id})


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


# The cells held by appointments or live holds (parameters: practitioner_ids, starts_at,
# ends_at, now), built once; slot search reads it with the closures.
BUSY_CELLS = (
    select(SlotCell.practitioner_id, SlotCell.cell_start)
    .outerjoin(Hold, SlotCell.hold_id == Hold.id)
    .where(
        SlotCell.practitioner_id.in_(bindparam("practitioner_ids", expanding=True)),
        SlotCell.cell_start >= bindparam("starts_at", type_=UTCDateTime()),
        SlotCell.cell_start < bindparam("ends_at", type_=UTCDateTime()),
        or_(SlotCell.hold_id.is_(None), Hold.expires_at > bindparam("now", type_=UTCDateTime())),
    )
)


# Built once, with the parameters of imported_busy.BLOCKING_PERIODS (the two go together
# in a hold's opening check).
CLOSURES = select(
    ScheduleException.practitioner_id, ScheduleException.starts_at, ScheduleException.ends_at
).where(
    ScheduleException.practice_id == bindparam("practice_id"),
    ScheduleException.ends_at > bindparam("starts_at", type_=UTCDateTime()),
    ScheduleException.starts_at < bindparam("ends_at", type_=UTCDateTime()),
    or_(
        ScheduleException.practitioner_id.is_(None),
        ScheduleException.practitioner_id.in_(bindparam("practitioner_ids", expanding=True)),
    ),
)
