from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field, field_validator

from api.schemas.common import Strict, Text

PHONE = r"^[+0-9 ().-]{4,32}$"


def _plausible_birth(value: date | None) -> date | None:
    if value is not None and not date(1880, 1, 1) <= value <= date(2200, 1, 1):
        raise ValueError("a birth date between 1880 and today")
    return value


class PatientIn(Strict):
    first_name: Text(200)  # type: ignore[valid-type]
    last_name: Text(200)  # type: ignore[valid-type]
    birth_date: date
    phone: str | None = Field(None, pattern=PHONE)

    _birth = field_validator("birth_date")(_plausible_birth)


class PatientPatch(Strict):
    first_name: Text(200) | None = None  # type: ignore[valid-type]
    last_name: Text(200) | None = None  # type: ignore[valid-type]
    birth_date: date | None = None
    phone: str | None = Field(None, pattern=PHONE)

    _birth = field_validator("birth_date")(_plausible_birth)


class PatientOut(BaseModel):
    id: int
    practice_id: int
    code: str
    first_name: str
    last_name: str
    birth_date: date
    phone: str | None
    provisional: bool = False  # registered by phone, "à confirmer" by a secretary


class ProvisionalPatientOut(PatientOut):
    """A patient to confirm, with the known patients they may be (same birth date and name)."""

    possible_matches: list[PatientOut]


class MergeIn(Strict):
    into_patient_id: int = Field(ge=1, le=2_147_483_647)
