"""Patients of a practice: create, edit, read, search by name, birth date or phone.

Lookups go through the blind indexes of :class:`storage.patients.PatientDirectory`.
Every patient record handed out is audited (``patient.read``, ``patient.search``),
in the same transaction as the read; creations and changes are audited by the directory.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status

from api.deps import (
    Context,
    ObjectId,
    PracticeSlug,
    Secretary,
    SecretaryOrDoctor,
    check_practice,
    practice_id_of,
)
from api.errors import COMMON_RESPONSES, ApiError, not_found, responses
from api.schemas.patients import (
    MergeIn,
    PatientIn,
    PatientOut,
    PatientPatch,
    ProvisionalPatientOut,
)
from api.services.sessions import Principal
from storage import audit, new_patients
from storage.patients import PatientDirectory, PatientRecord, UnknownPatient

router = APIRouter(tags=["patients"], responses=COMMON_RESPONSES)

SEARCH_LIMIT = 50
PURPOSE = "secretariat work"


CONFIRM_PURPOSE = "confirm new patients registered by phone"


def _out(record: PatientRecord, provisional: bool = False) -> PatientOut:
    return PatientOut(id=record.id, practice_id=record.practice_id, code=record.code,
                      first_name=record.first_name, last_name=record.last_name,
                      birth_date=record.birth_date, phone=record.phone,
                      provisional=provisional)


def _read_audit(session: object, staff: Principal, record: PatientRecord, action: str,
                detail: dict[str, object] | None = None) -> None:
    audit.record(session, actor=staff.actor, action=action,  # type: ignore[arg-type]
                 object_type="patient", object_id=None, patient_id=record.id,
                 practice_id=record.practice_id, purpose=PURPOSE, detail=detail)


@router.post("/practices/{practice}/patients", response_model=PatientOut,
             status_code=status.HTTP_201_CREATED)
def create_patient(practice: PracticeSlug, body: PatientIn, staff: Secretary,
                   ctx: Context) -> PatientOut:
    place_id = practice_id_of(ctx, staff, practice)
    with ctx.db.session() as session:
        directory = PatientDirectory(session)
        try:
            record = directory.add(place_id, first_name=body.first_name,
                                   last_name=body.last_name, birth_date=body.birth_date,
                                   phone=body.phone, actor=staff.actor, purpose=PURPOSE)
        except ValueError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from None
        return _out(record)


@router.get("/practices/{practice}/patients", response_model=list[PatientOut])
def search_patients(
    practice: PracticeSlug,
    staff: Secretary,
    ctx: Context,
    last_name: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    first_name: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    birth_date: date | None = None,
    phone: Annotated[str | None, Query(pattern=r"^[+0-9 ().-]{4,32}$")] = None,
    code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
) -> list[PatientOut]:
    """Find patients by last name (and first name), birth date, phone number or code.

    Give exactly one criterion (first name goes with last name). Each patient returned
    is an audited read.
    """
    given = [c for c in (last_name, birth_date, phone, code) if c is not None]
    if len(given) != 1 or (first_name is not None and last_name is None):
        raise ApiError(422, "invalid_request",
                       "give exactly one of last_name (with optional first_name), "
                       "birth_date, phone, code")
    for text in (last_name, first_name):
        if text is not None and any(ord(ch) < 32 for ch in text):
            raise ApiError(422, "invalid_request", "control characters are not allowed")
    place_id = practice_id_of(ctx, staff, practice)
    with ctx.db.session() as session:
        directory = PatientDirectory(session)
        if last_name is not None:
            found, by = directory.find_by_name(place_id, last_name, first_name), "name"
        elif birth_date is not None:
            found, by = directory.find_by_birth_date(place_id, birth_date), "birth_date"
        elif phone is not None:
            found, by = directory.find_by_phone(place_id, phone), "phone_number"
        else:
            one = directory.by_code(place_id, code or "")
            found, by = ([one] if one else []), "code"
        found = found[:SEARCH_LIMIT]
        for record in found:
            _read_audit(session, staff, record, "patient.search", {"by": by})
        return [_out(r) for r in found]


@router.get("/patients/{patient_id}", response_model=PatientOut)
def get_patient(patient_id: ObjectId, staff: SecretaryOrDoctor, ctx: Context) -> PatientOut:
    """A patient record (audited read). Doctors read patients of their practice."""
    with ctx.db.session() as session:
        try:
            record = PatientDirectory(session).get(patient_id)
        except UnknownPatient:
            raise not_found("patient") from None
        check_practice(staff, record.practice_id, "patient")
        _read_audit(session, staff, record, "patient.read")
        return _out(record, new_patients.is_provisional(session, record.id))


@router.patch("/patients/{patient_id}", response_model=PatientOut)
def update_patient(patient_id: ObjectId, body: PatientPatch, staff: Secretary,
                   ctx: Context) -> PatientOut:
    """Correct a patient's identity (only the fields given; ``phone: null`` is ignored)."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        raise ApiError(422, "invalid_request", "give at least one field to change")
    with ctx.db.session() as session:
        directory = PatientDirectory(session)
        try:
            current = directory.get(patient_id)
        except UnknownPatient:
            raise not_found("patient") from None
        check_practice(staff, current.practice_id, "patient")
        try:
            record = directory.update(patient_id, actor=staff.actor, purpose=PURPOSE,
                                      **changes)
        except ValueError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from None
        return _out(record)


@router.get("/practices/{practice}/patients/provisional",
            response_model=list[ProvisionalPatientOut])
def provisional_patients(practice: PracticeSlug, staff: Secretary,
                         ctx: Context) -> list[ProvisionalPatientOut]:
    """New patients registered by phone, "à confirmer", oldest first, each with the known
    patients they may be (same birth date and last name). Every record shown is an
    audited read."""
    place_id = practice_id_of(ctx, staff, practice)
    with ctx.db.session() as session:
        found = []
        for record in new_patients.provisional_patients(session, place_id)[:SEARCH_LIMIT]:
            matches = new_patients.possible_matches(session, record)
            for shown in (record, *matches):
                audit.record(session, actor=staff.actor, action="patient.read",
                             object_type="patient", object_id=None, patient_id=shown.id,
                             practice_id=place_id, purpose=CONFIRM_PURPOSE)
            found.append(ProvisionalPatientOut(
                **_out(record, True).model_dump(),
                possible_matches=[_out(m) for m in matches]))
        return found


def _provisional_of(session: object, staff: Principal, patient_id: int) -> PatientRecord:
    try:
        record = PatientDirectory(session).get(patient_id)  # type: ignore[arg-type]
    except UnknownPatient:
        raise not_found("patient") from None
    check_practice(staff, record.practice_id, "patient")
    if not new_patients.is_provisional(session, patient_id):  # type: ignore[arg-type]
        raise ApiError(409, "conflict", "this patient is not waiting for confirmation")
    return record


@router.post("/patients/{patient_id}/confirm", response_model=PatientOut,
             responses=responses(409))
def confirm_patient(patient_id: ObjectId, staff: Secretary, ctx: Context) -> PatientOut:
    """The record of a new patient registered by phone is right: it becomes ordinary."""
    with ctx.db.session() as session:
        _provisional_of(session, staff, patient_id)
        record = new_patients.confirm_patient(session, patient_id, actor=staff.actor,
                                              purpose=CONFIRM_PURPOSE)
        return _out(record)


@router.post("/patients/{patient_id}/merge", response_model=PatientOut,
             responses=responses(409))
def merge_patient(patient_id: ObjectId, body: MergeIn, staff: Secretary,
                  ctx: Context) -> PatientOut:
    """The new patient was already known as ``into_patient_id`` (same practice): their
    appointments, calls, messages and queue entries move there; the new record is erased."""
    with ctx.db.session() as session:
        record = _provisional_of(session, staff, patient_id)
        try:
            target = PatientDirectory(session).get(body.into_patient_id, record.practice_id)
        except UnknownPatient:
            raise not_found("patient") from None
        if target.id == patient_id:
            raise ApiError(409, "conflict", "a patient cannot be merged into itself")
        merged = new_patients.merge_patient(session, patient_id, target.id, actor=staff.actor,
                                            purpose=CONFIRM_PURPOSE)
        return _out(merged)
