"""The rules about who books, checked inside the booking's transaction.

New patients (never seen at the practice) book only visit types open to them, with a
doctor who takes new patients, at a practice that does (``scheduling.practice_profile``).
A second visit of the same type within the practice's window (``duplicate_window_days``)
is refused by phone with ``Reason.DUPLICATE_VISIT``: the flow hands it to a secretary.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Exists, exists, select
from sqlalchemy.orm import Session

from scheduling import practice_profile, rules
from scheduling.values import Channel, Refused
from scheduling.views import appointment_views
from storage.models import Appointment, AppointmentStatus, Practitioner, VisitType


def seen_before(patient_id: int, practice_id: int | ColumnElement[int],
                now: datetime) -> Exists:
    """EXISTS: the patient has had an appointment at the practice (a column of a
    larger query, such as the confirm's read of its hold)."""
    return exists().where(
        Appointment.patient_id == patient_id,
        Appointment.practice_id == practice_id,
        Appointment.status == AppointmentStatus.BOOKED,
        Appointment.starts_at < now,
    )


def is_new_patient(session: Session, patient_id: int, practice_id: int, now: datetime) -> bool:
    """A patient is new to a practice until they have had an appointment there."""
    return not session.scalar(select(seen_before(patient_id, practice_id, now)))


def booking_refusal(
    session: Session,
    kind: VisitType,
    practitioner_id: int,
    patient_id: int,
    starts_at: datetime,
    now: datetime,
    by: Channel,
    *,
    new: bool | None = None,
    about: practice_profile.ProfileView | None = None,
) -> Refused | None:
    """Why ``patient_id`` may not book this visit, by who they are: new patients, then
    (by phone) a duplicate of the same visit type within the practice's window.

    ``new`` (is the patient new) and ``about`` (the practice's profile) are read here
    unless the caller has them already.
    """
    if new is None:
        new = is_new_patient(session, patient_id, kind.practice_id, now)
    if about is None:
        about = practice_profile.profile(session, kind.practice_id)
    if by is Channel.PHONE:
        refusal = rules.new_patient_refusal(
            kind, new, session.get_one(Practitioner, practitioner_id),
            about.accepts_new_patients)
    else:  # staff may book a new patient with any doctor; the visit type still rules
        refusal = rules.new_patient_refusal(kind, new)
    if refusal is not None or by is not Channel.PHONE or about.duplicate_window_days <= 0:
        return refusal
    same_kind = session.scalars(select(Appointment).where(
        Appointment.patient_id == patient_id,
        Appointment.practice_id == kind.practice_id,
        Appointment.visit_type_id == kind.id,
        Appointment.status == AppointmentStatus.BOOKED,
        Appointment.starts_at > now,
    ))
    return rules.duplicate_refusal(appointment_views(session, same_kind), kind.code,
                                   about.duplicate_window_days, starts_at=starts_at, now=now)


def new_patient_practitioners(session: Session, people: list[Practitioner]) -> list[Practitioner]:
    """Those of ``people`` who take new patients (none when the practice takes none)."""
    if not people:
        return []
    if not practice_profile.profile(session, people[0].practice_id).accepts_new_patients:
        return []
    return [p for p in people if p.accepts_new_patients]
