"""The booking and cancelling rules of a visit type, as refusals a caller can be told."""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduling.values import Channel, Reason, Refused
from storage.models import Appointment, AppointmentStatus, VisitType


def booking_refusal(
    visit_type: VisitType, starts_at: datetime, now: datetime, channel: Channel
) -> Refused | None:
    """Why a visit of ``visit_type`` at ``starts_at`` cannot be booked now, if it cannot.

    Staff may book at short notice and visit types the phone may not; nobody books the past.
    """
    if starts_at <= now:
        return Refused(Reason.IN_THE_PAST, "that time has already passed")
    if channel is Channel.PHONE:
        if not visit_type.phone_bookable:
            return Refused(
                Reason.NOT_BOOKABLE_BY_PHONE, f"{visit_type.label} is booked by the practice"
            )
        notice = timedelta(minutes=visit_type.min_book_notice_minutes)
        if starts_at < now + notice:
            return Refused(
                Reason.TOO_SHORT_NOTICE,
                f"book at least {visit_type.min_book_notice_minutes} minutes ahead",
            )
    return None


def new_patient_refusal(visit_type: VisitType, is_new_patient: bool) -> Refused | None:
    """A new patient may not book a visit type reserved to known patients."""
    if is_new_patient and not visit_type.new_patients_allowed:
        return Refused(
            Reason.NEW_PATIENTS_NOT_ACCEPTED,
            f"{visit_type.label} is for patients already seen at the practice",
        )
    return None


def cancel_refusal(
    appointment: Appointment, visit_type: VisitType, now: datetime, channel: Channel
) -> Refused | None:
    """Why ``appointment`` cannot be cancelled (or moved) now, if it cannot."""
    if appointment.status is not AppointmentStatus.BOOKED:
        return Refused(Reason.ALREADY_CANCELLED, "this appointment is no longer booked")
    if appointment.starts_at <= now:
        return Refused(Reason.IN_THE_PAST, "this appointment has already started")
    notice = timedelta(minutes=visit_type.min_cancel_notice_minutes)
    if channel is Channel.PHONE and appointment.starts_at < now + notice:
        return Refused(
            Reason.TOO_LATE_TO_CANCEL,
            f"cancel at least {visit_type.min_cancel_notice_minutes} minutes ahead",
        )
    return None
