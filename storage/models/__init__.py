"""All tables. Each concern has its own module; importing this package registers them all."""

from storage.models.agenda import (
    Appointment,
    AppointmentStatus,
    ExceptionKind,
    Hold,
    OpeningTemplate,
    Practice,
    Practitioner,
    ScheduleException,
    SlotCell,
    VisitType,
)
from storage.models.audit import AuditCheckpoint, AuditEvent, AuditHead
from storage.models.base import Base, UTCDateTime, utcnow
from storage.models.patients import Patient
from storage.models.vault import ObjectKind, ObjectStatus, VaultObject

__all__ = [
    "Appointment",
    "AppointmentStatus",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "Base",
    "ExceptionKind",
    "Hold",
    "ObjectKind",
    "ObjectStatus",
    "OpeningTemplate",
    "Patient",
    "Practice",
    "Practitioner",
    "ScheduleException",
    "SlotCell",
    "UTCDateTime",
    "VaultObject",
    "VisitType",
    "utcnow",
]
