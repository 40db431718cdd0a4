"""The values the agenda hands out: slots, holds, appointments, and the result of each intent.

Plain frozen dataclasses, never ORM objects, so callers cannot change the database by
accident and results can cross threads.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo


class Channel(enum.StrEnum):
    """Who acts: the patient by phone follows every rule; staff may bypass notice rules."""

    PHONE = "phone"
    STAFF = "staff"


class PartOfDay(enum.StrEnum):
    """Local start before noon is morning, from 13:00 afternoon; 12:xx goes with its opening."""

    MORNING = "morning"
    AFTERNOON = "afternoon"


class Reason(enum.StrEnum):
    """Why an intent was refused; each one is something a caller can be told."""

    SLOT_TAKEN = "slot_taken"
    HOLD_EXPIRED = "hold_expired"
    TOO_LATE_TO_CANCEL = "too_late_to_cancel"
    TOO_SHORT_NOTICE = "too_short_notice"
    NOT_BOOKABLE_BY_PHONE = "not_bookable_by_phone"
    NEW_PATIENTS_NOT_ACCEPTED = "new_patients_not_accepted"
    IN_THE_PAST = "in_the_past"
    OUTSIDE_OPENING_HOURS = "outside_opening_hours"
    UNKNOWN_APPOINTMENT = "unknown_appointment"
    ALREADY_CANCELLED = "already_cancelled"
    DUPLICATE_VISIT = "duplicate_visit"  # one of the same type within the practice's window


@dataclass(frozen=True, slots=True)
class VisitTypeView:
    code: str
    label: str
    duration_minutes: int
    phone_bookable: bool
    new_patients_allowed: bool
    min_book_notice_minutes: int
    min_cancel_notice_minutes: int


@dataclass(frozen=True, slots=True)
class PractitionerView:
    id: int
    slug: str
    name: str
    specialty: str | None


@dataclass(frozen=True, slots=True)
class PracticeView:
    id: int
    slug: str
    name: str
    timezone: str
    practitioners: tuple[PractitionerView, ...]
    visit_types: tuple[VisitTypeView, ...]


@dataclass(frozen=True, slots=True)
class Slot:
    practice_id: int
    practitioner_id: int
    practitioner_name: str
    visit_type_code: str
    starts_at: datetime  # aware, UTC
    ends_at: datetime
    timezone: str

    @property
    def local_start(self) -> datetime:
        return self.starts_at.astimezone(ZoneInfo(self.timezone))


@dataclass(frozen=True, slots=True)
class HoldView:
    id: str
    slot: Slot
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AppointmentView:
    id: int
    practice_id: int
    practitioner_id: int
    practitioner_name: str
    patient_id: int
    visit_type_code: str
    visit_type_label: str
    starts_at: datetime
    ends_at: datetime
    status: str
    booked_by: str
    timezone: str
    replaces_id: int | None = None

    @property
    def local_start(self) -> datetime:
        return self.starts_at.astimezone(ZoneInfo(self.timezone))


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Reason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Held:
    hold: HoldView


@dataclass(frozen=True, slots=True)
class Booked:
    appointment: AppointmentView


@dataclass(frozen=True, slots=True)
class Cancelled:
    appointment: AppointmentView


@dataclass(frozen=True, slots=True)
class Rescheduled:
    old: AppointmentView
    new: AppointmentView


@dataclass(frozen=True, slots=True)
class Released:
    hold_id: str
