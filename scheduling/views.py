"""Turn agenda rows into the plain values handed to callers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from scheduling.values import AppointmentView, HoldView, Slot
from storage.models import Appointment, Hold, Practice, Practitioner, VisitType

Row = TypeVar("Row", Practice, Practitioner, VisitType)


def _by_id(session: Session, model: type[Row], ids: set[int]) -> dict[int, Row]:
    """Rows by id: those the session already holds without a query, the others in one."""
    found: dict[int, Row] = {}
    for row_id in ids:
        row = session.identity_map.get(identity_key(model, row_id))
        if row is not None:
            found[row_id] = row
    missing = ids - found.keys()
    if missing:
        found.update((r.id, r) for r in session.scalars(select(model).where(
            model.id.in_(missing))))
    return found


def appointment_views(session: Session, rows: Iterable[Appointment]) -> list[AppointmentView]:
    """Views of appointments, with practitioner names and visit type labels."""
    rows = list(rows)
    if not rows:
        return []
    practitioners = _by_id(session, Practitioner, {r.practitioner_id for r in rows})
    visit_types = _by_id(session, VisitType, {r.visit_type_id for r in rows})
    zones = {p.id: p.timezone
             for p in _by_id(session, Practice, {r.practice_id for r in rows}).values()}
    return [
        AppointmentView(
            id=r.id,
            practice_id=r.practice_id,
            practitioner_id=r.practitioner_id,
            practitioner_name=practitioners[r.practitioner_id].display_name,
            patient_id=r.patient_id,
            visit_type_code=visit_types[r.visit_type_id].code,
            visit_type_label=visit_types[r.visit_type_id].label,
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            status=str(r.status),
            booked_by=r.booked_by,
            timezone=zones[r.practice_id],
            replaces_id=r.replaces_id,
        )
        for r in rows
    ]


def appointment_view(session: Session, row: Appointment) -> AppointmentView:
    return appointment_views(session, [row])[0]


def hold_view(session: Session, row: Hold) -> HoldView:
    practitioner = session.get_one(Practitioner, row.practitioner_id)
    visit_type = session.get_one(VisitType, row.visit_type_id)
    practice = session.get_one(Practice, row.practice_id)
    slot = Slot(
        practice_id=row.practice_id,
        practitioner_id=row.practitioner_id,
        practitioner_name=practitioner.display_name,
        visit_type_code=visit_type.code,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        timezone=practice.timezone,
    )
    return HoldView(id=row.id, slot=slot, expires_at=row.expires_at)
