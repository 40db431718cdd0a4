from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.schemas.common import Id, Slug, Strict
from storage.models import StaffRole


class UserIn(Strict):
    login: str = Field(pattern=r"^[a-z][a-z0-9._-]{1,63}$")
    role: StaffRole
    practices: list[Slug] = Field(default_factory=list, max_length=100)
    practitioner: Slug | None = None
    shared_box: bool = False


class UserPatch(Strict):
    practice_ids: list[Id] | None = Field(None, max_length=100)
    shared_box: bool | None = None


class UserOut(BaseModel):
    id: int
    login: str
    role: str
    practice_ids: list[int]
    practitioner_id: int | None
    shared_box: bool
    disabled: bool
    locked_until: datetime | None
    mfa_enrolled: bool
    must_change_password: bool
    created_at: datetime
    last_login_at: datetime | None
    sip_phone: bool = False
    """A SIP phone password is set: the account's phone may register to the front."""


class EnrolmentOut(BaseModel):
    """Shown once: the one-time password (new users), the otpauth URI to enrol the
    authenticator app, and the recovery codes."""

    login: str
    one_time_password: str | None
    otpauth_uri: str
    otpauth_qr: str = Field(description="the otpauth URI as a QR code to scan: an SVG "
                                        "image as a data: URI")
    recovery_codes: list[str]


class SipPhoneOut(BaseModel):
    """Shown once: what to type into the secretary's SIP phone or softphone."""

    address: str
    login: str
    password: str
    realm: str
    registrar: str
