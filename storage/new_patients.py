"""Patients created by the phone for a caller new to the practice: "à confirmer".

A caller who is not in the practice's files gives their name, birth date and a number
to call back; :func:`create_provisional_patient` files them like any patient (identity
sealed and indexed by :class:`storage.patients.PatientDirectory`, ``patient.create``
audited) and flags the record *provisional*: they may book what new patients may book,
and a secretary later checks the record and either confirms it
(:func:`confirm_patient`) or, when the caller was in fact already known, merges it into
the existing record (:func:`merge_patient`: appointments, calls, messages and queue
entries move over, then the provisional identity is erased).

Several patients may share one number (a family) and a caller may withhold theirs: the
number is whatever the caller gave, never required to be unique. Nothing here logs.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage import audit
from storage.erasure import erase_patient
from storage.models import (
    Appointment,
    CallRecord,
    Escalation,
    Notification,
    Patient,
    VaultObject,
)
from storage.patients import PatientDirectory, PatientRecord, UnknownPatient, fold_name

PHONE_PURPOSE = "a new patient registered by phone, to be confirmed by the secretaries"


class NotProvisional(ValueError):
    """The patient is not (or no longer) waiting for confirmation."""


def create_provisional_patient(
    session: Session,
    practice_id: int,
    *,
    first_name: str,
    last_name: str,
    birth_date: date,
    phone: str | None,
    actor: str,
    purpose: str | None = None,
) -> PatientRecord:
    """A new patient flagged "à confirmer"; ``phone`` is the call-back number given.

    Sealed and audited (``patient.create``) like every patient, in the caller's
    transaction. ``actor`` is ``ivr:<call id>`` from the phone.
    """
    record = PatientDirectory(session).add(
        practice_id, first_name=first_name, last_name=last_name, birth_date=birth_date,
        phone=phone, actor=actor, purpose=purpose or PHONE_PURPOSE)
    session.execute(update(Patient).where(Patient.id == record.id).values(provisional=True))
    return record


def is_provisional(session: Session, patient_id: int) -> bool:
    return bool(session.scalar(select(Patient.provisional).where(Patient.id == patient_id)))


def provisional_ids(session: Session, practice_id: int) -> list[int]:
    """Ids of the practice's patients waiting for confirmation, oldest first."""
    return list(session.scalars(
        select(Patient.id).where(Patient.practice_id == practice_id,
                                 Patient.provisional.is_(True), Patient.erased_at.is_(None))
        .order_by(Patient.created_at, Patient.id)))


def provisional_patients(session: Session, practice_id: int) -> list[PatientRecord]:
    """The practice's patients waiting for confirmation (identity in clear: audit the read)."""
    directory = PatientDirectory(session)
    return [directory.get(patient_id) for patient_id in provisional_ids(session, practice_id)]


def possible_matches(session: Session, record: PatientRecord) -> list[PatientRecord]:
    """Confirmed patients with the same birth date and last name: the caller may be one."""
    wanted = fold_name(record.last_name)
    found = PatientDirectory(session).find_by_birth_date(record.practice_id, record.birth_date)
    return [other for other in found if other.id != record.id
            and fold_name(other.last_name) == wanted
            and not is_provisional(session, other.id)]


def confirm_patient(session: Session, patient_id: int, *, actor: str,
                    purpose: str | None = None) -> PatientRecord:
    """The secretary has checked the record: it is an ordinary patient now (audited)."""
    record = _provisional(session, patient_id)
    session.execute(update(Patient).where(Patient.id == patient_id).values(provisional=False))
    audit.record(session, actor=actor, action="patient.confirm", object_type="patient",
                 object_id=None, purpose=purpose or "confirm a new patient registered by phone",
                 patient_id=patient_id, practice_id=record.practice_id)
    return record


def merge_patient(session: Session, patient_id: int, into_id: int, *, actor: str,
                  purpose: str | None = None) -> PatientRecord:
    """The provisional ``patient_id`` is ``into_id``, already known: move everything of
    the first to the second, then erase the first's identity. Audited as
    ``patient.merge`` (on ``into_id``) and ``patient.erase``."""
    record = _provisional(session, patient_id)
    target = PatientDirectory(session).get(into_id, record.practice_id)
    if target.id == patient_id:
        raise ValueError("a patient cannot be merged into itself")
    moved = {}
    for model in (Appointment, CallRecord, Escalation, VaultObject, Notification):
        result = session.execute(update(model).where(model.patient_id == patient_id)
                                 .values(patient_id=into_id))
        moved[model.__tablename__] = result.rowcount or 0
    session.flush()
    erase_patient(session, patient_id, actor, reason=f"merged into patient {into_id}")
    audit.record(session, actor=actor, action="patient.merge", object_type="patient",
                 object_id=None, purpose=purpose or "a new patient was already known",
                 patient_id=into_id, practice_id=record.practice_id,
                 detail={"merged_patient_id": patient_id, "moved": moved})
    return target


def _provisional(session: Session, patient_id: int) -> PatientRecord:
    record = PatientDirectory(session).get(patient_id)
    if not is_provisional(session, patient_id):
        raise NotProvisional(f"patient {patient_id} is not waiting for confirmation")
    return record


__all__ = ["NotProvisional", "UnknownPatient", "confirm_patient", "create_provisional_patient",
           "is_provisional", "merge_patient", "possible_matches", "provisional_ids",
           "provisional_patients"]
