from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import Slug, Strict, Text


class PracticeIn(Strict):
    slug: Slug
    name: Text(200)  # type: ignore[valid-type]
    timezone: str = Field("Europe/Paris", min_length=1, max_length=64,
                          pattern=r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$")
    phone_number: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$")


class PracticeOut(BaseModel):
    id: int
    slug: str
    name: str
    timezone: str
    phone_number: str | None


class PractitionerIn(Strict):
    slug: Slug
    name: Text(200)  # type: ignore[valid-type]
    specialty: Text(100) | None = None  # type: ignore[valid-type]


class PractitionerOut(BaseModel):
    id: int
    slug: str
    name: str
    specialty: str | None
    active: bool
    accepts_new_patients: bool
    alert_address: str | None


class PractitionerPatch(Strict):
    """Whether the doctor takes new patients; where their voicemail alerts go (null: none)."""

    accepts_new_patients: bool | None = None
    alert_address: str | None = Field(None, max_length=254)


class ProfileOut(BaseModel):
    """What the practice tells its callers (texts written for the ear) and phone settings."""

    spoken_name: str | None
    address: str | None
    access: str | None
    accepts_new_patients: bool
    secretary_line: str | None
    sos_medecins_number: str | None
    on_call_number: str | None
    pharmacy_number: str | None
    duplicate_window_days: int
    privacy_contact: str | None
    alert_recipients: list[str]
    desk_ring: str
    """How a transfer rings the secretaries' console softphones: ``ring_all`` or ``hunt``."""
    hunt_order: list[str]
    """In a hunt, the secretaries' logins in the order they ring (available ones only)."""
    hunt_seconds: int
    """In a hunt, how long each one rings."""


class ProfilePatch(Strict):
    """Only the fields given change; ``null`` clears a text."""

    spoken_name: Text(200) | None = None  # type: ignore[valid-type]
    address: Text(500) | None = None  # type: ignore[valid-type]
    access: Text(500) | None = None  # type: ignore[valid-type]
    accepts_new_patients: bool | None = None
    secretary_line: str | None = Field(None, max_length=255)
    sos_medecins_number: str | None = Field(None, max_length=32)
    on_call_number: str | None = Field(None, max_length=32)
    pharmacy_number: str | None = Field(None, max_length=32)
    duplicate_window_days: int | None = Field(None, ge=0, le=365)
    privacy_contact: Text(300) | None = None  # type: ignore[valid-type]
    alert_recipients: list[Text(254)] | None = Field(None, max_length=10)  # type: ignore[valid-type]
    desk_ring: Literal["ring_all", "hunt"] | None = None
    hunt_order: list[Text(64)] | None = Field(None, max_length=20)  # type: ignore[valid-type]
    hunt_seconds: int | None = Field(None, ge=5, le=120)


class VisitTypeIn(Strict):
    code: Slug
    label: Text(200)  # type: ignore[valid-type]
    duration_minutes: int = Field(ge=5, le=480, multiple_of=5)
    phone_bookable: bool = True
    new_patients_allowed: bool = True
    min_book_notice_minutes: int = Field(60, ge=0, le=525_600)
    min_cancel_notice_minutes: int = Field(1440, ge=0, le=525_600)


class VisitTypeOut(BaseModel):
    code: str
    label: str
    duration_minutes: int
    phone_bookable: bool
    new_patients_allowed: bool
    min_book_notice_minutes: int
    min_cancel_notice_minutes: int


class OpeningIn(Strict):
    """Weekly opening: day (mon..sun) → spans like ``08:30-12:00``."""

    opening: dict[str, list[str]] = Field(max_length=7)


class OpeningOut(BaseModel):
    practitioner_id: int
    opening: dict[str, list[str]]


class PracticeDetailOut(PracticeOut):
    practitioners: list[PractitionerOut]
    visit_types: list[VisitTypeOut]
