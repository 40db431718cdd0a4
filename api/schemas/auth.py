from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.schemas.common import Strict, Text


class LoginIn(Strict):
    login: Text(64)  # type: ignore[valid-type]
    password: str = Field(min_length=1, max_length=256)
    totp_code: str | None = Field(None, pattern=r"^\s*\d{3}\s?\d{3}\s*$")
    recovery_code: str | None = Field(None, min_length=8, max_length=40)


class SessionOut(BaseModel):
    """A new session. ``token`` goes in ``Authorization: Bearer``; the same token is also
    set as an HttpOnly cookie, and ``csrf_token`` must then accompany unsafe requests in
    ``X-CSRF-Token``."""

    token: str
    csrf_token: str
    expires_at: datetime
    idle_minutes: int
    must_change_password: bool
    role: str


class PasswordChangeIn(Strict):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class MeOut(BaseModel):
    login: str
    role: str
    practice_ids: list[int]
    practitioner_id: int | None
    shared_box: bool
    must_change_password: bool
    recovery_codes_left: int
