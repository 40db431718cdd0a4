from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

from api.schemas.common import Id, Slug, Strict


class SlotOut(BaseModel):
    practice_id: int
    practitioner_id: int
    practitioner_name: str
    visit_type_code: str
    starts_at: datetime
    ends_at: datetime
    timezone: str


class BookIn(Strict):
    patient_id: Id
    practitioner_id: Id
    visit_type: Slug
    starts_at: AwareDatetime
    idempotency_key: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class MoveIn(Strict):
    practitioner_id: Id
    starts_at: AwareDatetime
    idempotency_key: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class AppointmentOut(BaseModel):
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


class MovedOut(BaseModel):
    old: AppointmentOut
    new: AppointmentOut
