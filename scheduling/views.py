"""Turn agenda rows into the plain values handed to callers."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduling.values import AppointmentView, HoldView, Slot
from storage.models import Appointment, Hold, Practice, Practitioner, VisitType


def appointment_views(session: Session, rows: Iterable[Appointment]) -> list[AppointmentView]:
    """Views of appointments, with practitioner names and visit type labels."""
    rows = list(rows)
    if not rows:
        return []
    practitioners = {
        p.id: p
        for p in session.scalars(
            select(Practitioner).where(Practitioner.id.in_({r.practitioner_id for r in rows}))
        )
    }
    visit_types = {
        v.id: v
        for v in session.scalars(
            select(VisitType).where(VisitType.id.in_({r.visit_type_id for r in rows}))
        )
    }
    zone_rows = session.execute(
        select(Practice.id, Practice.timezone).where(Practice.id.in_({r.practice_id for r in rows}))
    )
    zones = {practice_id: zone for practice_id, zone in zone_rows}
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
