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
from storage.models.calendars import (
    Attendance,
    CalendarConflict,
    CalendarKind,
    CalendarLink,
    CalendarOutbox,
    CalendarPublication,
    CalendarRemoteEvent,
    ImportedBusy,
    PracticeCalendarSettings,
)
from storage.models.calls import CallRecord, Escalation, EscalationStatus
from storage.models.lockouts import IdentityLockout
from storage.models.notifications import Notification, NotificationKind, NotificationStatus
from storage.models.patients import Patient
from storage.models.practice_profile import PracticeProfile
from storage.models.staff import (
    StaffPractice,
    StaffRecoveryCode,
    StaffRole,
    StaffSession,
    StaffUser,
)
from storage.models.throttles import LoginThrottle, RateBucket
from storage.models.vault import ObjectKind, ObjectStatus, VaultObject

__all__ = [
    "Appointment",
    "AppointmentStatus",
    "Attendance",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "Base",
    "CalendarConflict",
    "CalendarKind",
    "CalendarLink",
    "CalendarOutbox",
    "CalendarPublication",
    "CalendarRemoteEvent",
    "CallRecord",
    "Escalation",
    "EscalationStatus",
    "ExceptionKind",
    "Hold",
    "IdentityLockout",
    "ImportedBusy",
    "LoginThrottle",
    "Notification",
    "NotificationKind",
    "NotificationStatus",
    "ObjectKind",
    "ObjectStatus",
    "OpeningTemplate",
    "Patient",
    "Practice",
    "PracticeCalendarSettings",
    "PracticeProfile",
    "Practitioner",
    "RateBucket",
    "ScheduleException",
    "SlotCell",
    "StaffPractice",
    "StaffRecoveryCode",
    "StaffRole",
    "StaffSession",
    "StaffUser",
    "UTCDateTime",
    "VaultObject",
    "VisitType",
    "utcnow",
]
