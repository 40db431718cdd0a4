"""Practitioners' own calendars: link, state, practice settings, conflicts."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import Strict, Text


class CalendarLinkIn(Strict):
    """A CalDAV collection (two-way) or an .ics address (read only), with its login.

    The address and the credentials are sealed in the database and never shown again.
    """

    kind: Literal["caldav", "ics"]
    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://[^\s]+$")
    username: Text(200) | None = None  # type: ignore[valid-type]
    password: str | None = Field(None, min_length=1, max_length=500, repr=False)
    owner_address: str | None = Field(None, max_length=500,
                                      pattern=r"^[^\s,]+@[^\s,]+(,[^\s,]+@[^\s,]+)*$")


class CalendarStatusOut(BaseModel):
    """One practitioner's calendar: no address, no credentials, no event text."""

    practitioner_id: int
    practitioner_slug: str
    practitioner_name: str
    linked: bool
    kind: str | None
    server: str | None
    state: Literal["unlinked", "pending", "ok", "failing", "stale"]
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    events: int
    busy_periods: int
    last_changes: str | None
    last_requests: int
    waiting_to_publish: int
    published: int
    conflicts: int
    sync_requested: bool


class CalendarSettingsIn(Strict):
    tentative_blocks: bool | None = None
    declined_blocks: bool | None = None
    publish_patient_identity: bool | None = None


class CalendarSettingsOut(BaseModel):
    tentative_blocks: bool
    declined_blocks: bool
    publish_patient_identity: bool
    updated_at: datetime | None
    updated_by: str | None


class CalendarsOut(BaseModel):
    settings: CalendarSettingsOut
    practitioners: list[CalendarStatusOut]


class SyncRequestedOut(BaseModel):
    requested: int


class ConflictOut(BaseModel):
    """A booked appointment that the practitioner's own calendar overlaps: to move."""

    appointment_id: int
    practitioner_id: int
    starts_at: datetime
    ends_at: datetime
    busy_starts_at: datetime
    busy_ends_at: datetime
    detected_at: datetime
