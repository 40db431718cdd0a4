"""Exports of the agenda: an iCalendar feed per practitioner and FHIR R4 resources.

Nothing that identifies a patient leaves through an export: events are titled with the
visit type and the appointment number, and FHIR resources refer to ``Patient/<id>``.
FHIR resources are built and validated with ``fhir.resources.R4B`` (R4B has the same
Schedule, Slot and Appointment as R4; the package's top-level modules are R5).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.schedule import Schedule as FhirSchedule
from fhir.resources.R4B.slot import Slot as FhirSlot
from icalendar import Calendar, Event

from scheduling.lookup import PracticeRef, PractitionerRef
from scheduling.service import Agenda
from scheduling.values import AppointmentView, PractitionerView, Slot

PRODUCT_ID = "-//Telesec//Agenda//FR"
UID_DOMAIN = "telesec.invalid"


def practitioner_ical(
    agenda: Agenda,
    practice: PracticeRef,
    practitioner: PractitionerRef,
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
) -> bytes:
    """An iCalendar feed of one practitioner's appointments starting in [start, end).

    Cancelled and moved appointments stay in the feed as ``STATUS:CANCELLED`` so that a
    subscribed calendar drops them.
    """
    stamp = datetime.now(UTC) if now is None else now
    info = agenda.practice_info(practice)
    views = agenda.appointments_between(
        practice, start, end, practitioner=practitioner, include_cancelled=True
    )
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{info.name}")
    calendar.add("x-wr-timezone", info.timezone)
    for view in views:
        calendar.add_component(_event(view, stamp))
    return calendar.to_ical()


def _event(view: AppointmentView, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", f"appointment-{view.id}@{UID_DOMAIN}")
    event.add("dtstamp", stamp)
    event.add("dtstart", view.starts_at.astimezone(UTC))
    event.add("dtend", view.ends_at.astimezone(UTC))
    event.add("summary", f"{view.visit_type_label} (RDV {view.id})")
    event.add("status", "CONFIRMED" if view.status == "booked" else "CANCELLED")
    event.add("categories", [view.visit_type_code])
    return event


def schedule_id(practitioner_id: int) -> str:
    return f"practitioner-{practitioner_id}"


def fhir_schedule(practitioner: PractitionerView, practice_name: str) -> dict[str, Any]:
    """A FHIR R4 ``Schedule`` for one practitioner."""
    resource = FhirSchedule.model_validate(
        {
            "resourceType": "Schedule",
            "id": schedule_id(practitioner.id),
            "active": True,
            "actor": [
                {"reference": f"Practitioner/{practitioner.id}", "display": practitioner.name}
            ],
            "comment": practice_name,
        }
    )
    return _as_json(resource)


def fhir_slot(slot: Slot, status: str = "free") -> dict[str, Any]:
    """A FHIR R4 ``Slot`` (free by default) in the practitioner's schedule."""
    resource = FhirSlot.model_validate(
        {
            "resourceType": "Slot",
            "id": f"{slot.practitioner_id}-{int(slot.starts_at.timestamp())}",
            "schedule": {"reference": f"Schedule/{schedule_id(slot.practitioner_id)}"},
            "status": status,
            "start": slot.starts_at.astimezone(UTC).isoformat(),
            "end": slot.ends_at.astimezone(UTC).isoformat(),
            "serviceType": [{"text": slot.visit_type_code}],
        }
    )
    return _as_json(resource)


def fhir_appointment(view: AppointmentView) -> dict[str, Any]:
    """A FHIR R4 ``Appointment``; the patient appears only as ``Patient/<id>``."""
    status = {"booked": "booked", "cancelled": "cancelled", "moved": "cancelled"}[view.status]
    resource = FhirAppointment.model_validate(
        {
            "resourceType": "Appointment",
            "id": str(view.id),
            "status": status,
            "serviceType": [{"text": view.visit_type_label}],
            "appointmentType": {"text": view.visit_type_code},
            "start": view.starts_at.astimezone(UTC).isoformat(),
            "end": view.ends_at.astimezone(UTC).isoformat(),
            "minutesDuration": int((view.ends_at - view.starts_at).total_seconds() // 60),
            "participant": [
                {
                    "actor": {
                        "reference": f"Practitioner/{view.practitioner_id}",
                        "display": view.practitioner_name,
                    },
                    "status": "accepted",
                },
                {"actor": {"reference": f"Patient/{view.patient_id}"}, "status": "accepted"},
            ],
        }
    )
    return _as_json(resource)


def _as_json(resource: Any) -> dict[str, Any]:
    return json.loads(resource.model_dump_json(exclude_none=True))
