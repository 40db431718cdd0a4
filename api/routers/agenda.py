"""The agenda through the scheduling core: search, day list, book, cancel, move.

Changes are audited by the agenda itself (the staff member as actor); the day list is
audited here.

Secretaries work on the practices assigned to them; a doctor reads his own agenda.
Refusals (slot taken, too late to cancel...) are 409 with the reason as ``code``; a
reused idempotency key is 409 ``idempotency_key_reused`` (answered in :mod:`api.errors`).

Idempotency keys are per practice: the key a client sends is stored as
``staff:<practice id>:<key>``, so another practice's key neither answers its appointment
nor collides (which would tell that it exists). A replay that answers an existing
appointment is audited (``appointment.replay``), and so is a key reused for another
request (``appointment.key_reused``), both with the client address.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from api.client import client_address
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
from api.schemas.agenda import AppointmentOut, BookIn, MovedOut, MoveIn, SlotOut
from api.services.sessions import Principal
from scheduling.errors import IdempotencyKeyReused
from scheduling.values import AppointmentView, Booked, Channel, PartOfDay, Refused, Slot
from storage import audit
from storage.models import Appointment, StaffRole, VisitType

PURPOSE = "agenda managed by the secretariat"

router = APIRouter(tags=["agenda"], responses=COMMON_RESPONSES)


def _appointment_out(view: AppointmentView) -> AppointmentOut:
    return AppointmentOut.model_validate(view, from_attributes=True)


def _refusal(result: Refused) -> ApiError:
    return ApiError(409, result.reason.value, result.detail or result.reason.value)


def _visible_appointment(ctx: Context, staff: Principal, appointment_id: int) -> Appointment:
    """The appointment row if the caller may see it (no audit: only ids are read)."""
    with ctx.db.read_session() as session:
        row = session.get(Appointment, appointment_id)
    if row is None:
        raise not_found("appointment")
    check_practice(staff, row.practice_id, "appointment")
    if staff.role is StaffRole.DOCTOR and row.practitioner_id != staff.practitioner_id:
        raise not_found("appointment")
    return row


def _practice_key(practice_id: int, key: str) -> str:
    """The stored form of a staff client's idempotency key: scoped to one practice."""
    return f"staff:{practice_id}:{key}"


def _audit_key_use(ctx: Context, staff: Principal, request: Request, action: str,
                   practice_id: int, view: AppointmentView | None = None) -> None:
    with ctx.db.session() as session:
        audit.record(session, actor=staff.actor, action=action, object_type="appointment",
                     object_id=str(view.id) if view else None,
                     patient_id=view.patient_id if view else None, practice_id=practice_id,
                     purpose=PURPOSE, source=client_address(request))


def _slot(ctx: Context, practice_id: int, practitioner_id: int, code: str,
          starts_at: datetime) -> Slot:
    info = ctx.agenda.practice_info(practice_id)
    person = next((p for p in info.practitioners if p.id == practitioner_id), None)
    kind = next((k for k in info.visit_types if k.code == code), None)
    if person is None:
        raise not_found("practitioner")
    if kind is None:
        raise not_found("visit type")
    return Slot(practice_id=practice_id, practitioner_id=person.id,
                practitioner_name=person.name, visit_type_code=kind.code,
                starts_at=starts_at, ends_at=starts_at + timedelta(minutes=kind.duration_minutes),
                timezone=info.timezone)


@router.get("/practices/{practice}/slots", response_model=list[SlotOut])
def search_slots(
    practice: PracticeSlug,
    staff: Secretary,
    ctx: Context,
    visit_type: Annotated[str, Query(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")],
    practitioner_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    day: date | None = None,
    part_of_day: PartOfDay | None = None,
    after: Annotated[datetime | None, Query(description="aware ISO 8601 instant")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> list[SlotOut]:
    """The earliest free slots of a visit type (staff rules: no phone notice period)."""
    place_id = practice_id_of(ctx, staff, practice)
    if after is not None and after.tzinfo is None:
        raise ApiError(422, "invalid_request", "after: give a time zone (e.g. Z or +01:00)")
    if day is not None and not date(2000, 1, 1) <= day <= date(2200, 1, 1):
        raise ApiError(422, "invalid_request", "day: out of range")
    found = ctx.agenda.find_slots(place_id, visit_type, practitioner=practitioner_id, day=day,
                                  part_of_day=part_of_day, after=after, limit=limit,
                                  by=Channel.STAFF)
    if isinstance(found, Refused):
        raise _refusal(found)
    return [SlotOut.model_validate(s, from_attributes=True) for s in found]


@router.get("/practices/{practice}/agenda", response_model=list[AppointmentOut])
def day_list(
    practice: PracticeSlug,
    staff: SecretaryOrDoctor,
    ctx: Context,
    day: date,
    practitioner_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    include_cancelled: bool = False,
) -> list[AppointmentOut]:
    """The appointments of a day (a doctor sees only his own)."""
    place_id = practice_id_of(ctx, staff, practice)
    if not date(2000, 1, 1) <= day <= date(2200, 1, 1):
        raise ApiError(422, "invalid_request", "day: out of range")
    if staff.role is StaffRole.DOCTOR:
        if practitioner_id not in (None, staff.practitioner_id) or staff.practitioner_id is None:
            raise not_found("practitioner")
        practitioner_id = staff.practitioner_id
    views = ctx.agenda.day_list(place_id, day, practitioner=practitioner_id,
                                include_cancelled=include_cancelled)
    with ctx.db.session() as session:  # a practice-wide read: audited here, once
        audit.record(session, actor=staff.actor, action="agenda.read", object_type="agenda",
                     object_id=day.isoformat(), practice_id=place_id, purpose=PURPOSE,
                     detail={"appointments": len(views), "practitioner_id": practitioner_id})
    return [_appointment_out(v) for v in views]


@router.post("/practices/{practice}/appointments", response_model=AppointmentOut,
             status_code=status.HTTP_201_CREATED, responses=responses(409))
def book(practice: PracticeSlug, body: BookIn, request: Request, staff: Secretary,
         ctx: Context) -> AppointmentOut:
    """Book a slot for a patient of the practice (idempotent on ``idempotency_key``,
    within the practice)."""
    place_id = practice_id_of(ctx, staff, practice)
    slot = _slot(ctx, place_id, body.practitioner_id, body.visit_type, body.starts_at)
    key = _practice_key(place_id, body.idempotency_key)
    replay = ctx.agenda.key_used(key)
    try:
        result = ctx.agenda.book(slot, body.patient_id, key, actor=staff.actor,
                                 purpose=PURPOSE, by=Channel.STAFF)
    except IdempotencyKeyReused:
        _audit_key_use(ctx, staff, request, "appointment.key_reused", place_id)
        raise
    if isinstance(result, Refused):
        raise _refusal(result)
    if replay and isinstance(result, Booked):
        _audit_key_use(ctx, staff, request, "appointment.replay", place_id, result.appointment)
    return _appointment_out(result.appointment)


@router.get("/appointments/{appointment_id}", response_model=AppointmentOut)
def get_appointment(appointment_id: ObjectId, staff: SecretaryOrDoctor,
                    ctx: Context) -> AppointmentOut:
    _visible_appointment(ctx, staff, appointment_id)
    view = ctx.agenda.appointment(appointment_id, actor=staff.actor, purpose=PURPOSE)
    if view is None:
        raise not_found("appointment")
    return _appointment_out(view)


@router.post("/appointments/{appointment_id}/cancel", response_model=AppointmentOut,
             responses=responses(409))
def cancel(appointment_id: ObjectId, staff: Secretary, ctx: Context) -> AppointmentOut:
    _visible_appointment(ctx, staff, appointment_id)
    result = ctx.agenda.cancel(appointment_id, actor=staff.actor, purpose=PURPOSE,
                               by=Channel.STAFF)
    if isinstance(result, Refused):
        raise _refusal(result)
    return _appointment_out(result.appointment)


@router.post("/appointments/{appointment_id}/move", response_model=MovedOut,
             responses=responses(409))
def move(appointment_id: ObjectId, body: MoveIn, request: Request, staff: Secretary,
         ctx: Context) -> MovedOut:
    """Move an appointment to another time (same practice and visit type), atomically."""
    old = _visible_appointment(ctx, staff, appointment_id)
    with ctx.db.read_session() as session:
        code = session.get_one(VisitType, old.visit_type_id).code
    slot = _slot(ctx, old.practice_id, body.practitioner_id, code, body.starts_at)
    key = _practice_key(old.practice_id, body.idempotency_key)
    replay = ctx.agenda.key_used(key)
    try:
        result = ctx.agenda.reschedule(appointment_id, slot, key, actor=staff.actor,
                                       purpose=PURPOSE, by=Channel.STAFF)
    except IdempotencyKeyReused:
        _audit_key_use(ctx, staff, request, "appointment.key_reused", old.practice_id)
        raise
    if isinstance(result, Refused):
        raise _refusal(result)
    if replay:
        _audit_key_use(ctx, staff, request, "appointment.replay", old.practice_id, result.new)
    return MovedOut(old=_appointment_out(result.old), new=_appointment_out(result.new))
