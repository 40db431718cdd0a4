from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class VoicemailOut(BaseModel):
    id: str
    practice_id: int | None
    practitioner_id: int | None
    patient_id: int | None
    call_id: str | None
    created_at: datetime
    handled_at: datetime | None
    duration_seconds: float
    truncated: bool
    has_transcript: bool


class RecordingOut(BaseModel):
    id: str
    call_id: str | None
    practice_id: int | None
    created_at: datetime
    size: int
    truncated: bool
