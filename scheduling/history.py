"""Record appointments in bulk without the booking rules: imports, demo history, benchmarks.

The cells are still written, so recorded appointments cannot overlap each other or
anything booked; an overlap raises ``IntegrityError`` and the caller's transaction fails.
Each patient whose appointments are recorded gets one ``appointment.import`` audit event
in the caller's transaction (the new appointment ids in its detail).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from scheduling import audit_events
from scheduling.clock import cells, on_cell_grid, require_aware
from scheduling.errors import InvalidSlot
from storage.models import Appointment, AppointmentStatus, SlotCell


@dataclass(frozen=True, slots=True)
class PastOrImportedVisit:
    practice_id: int
    practitioner_id: int
    patient_id: int
    visit_type_id: int
    starts_at: datetime
    ends_at: datetime
    idempotency_key: str | None = None
    booked_by: str = "import"


def record_appointments(
    session: Session,
    visits: Sequence[PastOrImportedVisit],
    *,
    actor: str,
    purpose: str | None = None,
) -> list[int]:
    """Insert booked appointments and their cells; returns the new ids in order.

    Audited as one ``appointment.import`` event per patient and practice.
    """
    who = audit_events.Who(actor, purpose)
    if not visits:
        return []
    created = datetime.now(UTC)
    rows = []
    for visit in visits:
        starts_at = require_aware(visit.starts_at, "start")
        ends_at = require_aware(visit.ends_at, "end")
        if not (on_cell_grid(starts_at) and on_cell_grid(ends_at)) or starts_at >= ends_at:
            raise InvalidSlot(f"{starts_at:%Y-%m-%d %H:%M} is not a whole number of 5-minute cells")
        rows.append(
            {
                "practice_id": visit.practice_id,
                "practitioner_id": visit.practitioner_id,
                "patient_id": visit.patient_id,
                "visit_type_id": visit.visit_type_id,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "status": AppointmentStatus.BOOKED,
                "idempotency_key": visit.idempotency_key,
                "booked_by": visit.booked_by,
                "created_at": created,
            }
        )
    ids = list(
        session.scalars(
            insert(Appointment).returning(Appointment.id, sort_by_parameter_order=True), rows
        )
    )
    session.execute(
        insert(SlotCell),
        [
            {
                "practitioner_id": visit.practitioner_id,
                "cell_start": cell,
                "appointment_id": appointment_id,
                "hold_id": None,
            }
            for visit, appointment_id in zip(visits, ids, strict=True)
            for cell in cells(visit.starts_at, visit.ends_at)
        ],
    )
    by_patient: dict[tuple[int, int], list[int]] = {}
    for visit, appointment_id in zip(visits, ids, strict=True):
        by_patient.setdefault((visit.patient_id, visit.practice_id), []).append(appointment_id)
    for (patient_id, practice_id), appointment_ids in sorted(by_patient.items()):
        audit_events.record(
            session, audit_events.APPOINTMENT_IMPORT, who, patient_id=patient_id,
            practice_id=practice_id, detail={"appointment_ids": appointment_ids},
        )
    return ids
