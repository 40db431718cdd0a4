"""The booking and cancelling rules of a visit type, as refusals a caller can be told."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from scheduling.values import AppointmentView, Channel, Reason, Refused
from storage.models import Appointment, AppointmentStatus, Practitioner, VisitType


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


def new_patient_refusal(
    visit_type: VisitType,
    is_new_patient: bool,
    practitioner: Practitioner | None = None,
    practice_accepts: bool = True,
) -> Refused | None:
    """A new patient may not book a visit type reserved to known patients, nor at a
    practice (or with a doctor) that takes no new patients."""
    if not is_new_patient:
        return None
    if not practice_accepts:
        return Refused(Reason.NEW_PATIENTS_NOT_ACCEPTED,
                       "the practice is not taking new patients")
    if practitioner is not None and not practitioner.accepts_new_patients:
        return Refused(Reason.NEW_PATIENTS_NOT_ACCEPTED,
                       f"{practitioner.display_name} is not taking new patients")
    if not visit_type.new_patients_allowed:
        return Refused(
            Reason.NEW_PATIENTS_NOT_ACCEPTED,
            f"{visit_type.label} is for patients already seen at the practice",
        )
    return None


def duplicate_visit(
    upcoming: Iterable[AppointmentView],
    visit_type_code: str,
    window_days: int,
    *,
    starts_at: datetime | None = None,
    now: datetime,
) -> AppointmentView | None:
    """The patient's booked appointment of the same visit type that makes a new one a
    duplicate: one not started yet, within ``window_days`` of ``starts_at`` (or of
    ``now`` when no time is chosen yet). None when there is none or the window is 0."""
    if window_days <= 0:
        return None
    around = starts_at or now
    window = timedelta(days=window_days)
    for appointment in sorted(upcoming, key=lambda a: a.starts_at):
        if (appointment.visit_type_code == visit_type_code and appointment.status == "booked"
                and appointment.starts_at > now
                and abs(appointment.starts_at - around) < window):
            return appointment
    return None


def duplicate_refusal(
    upcoming: Iterable[AppointmentView],
    visit_type_code: str,
    window_days: int,
    *,
    starts_at: datetime | None = None,
    now: datetime,
) -> Refused | None:
    """:func:`duplicate_visit` as a refusal a flow hands to a secretary."""
    found = duplicate_visit(upcoming, visit_type_code, window_days, starts_at=starts_at,
                            now=now)
    if found is None:
        return None
    return Refused(
        Reason.DUPLICATE_VISIT,
        f"already booked: {found.visit_type_label} on "
        f"{found.local_start:%Y-%m-%d %H:%M} (within {window_days} days)",
    )


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
