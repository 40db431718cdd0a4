"""The calls log, written by the phone side and read by the staff API.

One row per call: when, how long, how it ended, whether the caller was verified, what
they wanted (an intent code), the patient's id once verified and the vault ids of the
recording and transcript. No health data in clear.
"""

from __future__ import annotations

from datetime import datetime

from storage.db import Database
from storage.models import CallRecord, utcnow

CODE_LENGTH = 32


def _code(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if not value or len(value) > CODE_LENGTH or not value.replace("_", "").replace(
        "-", ""
    ).replace(".", "").isalnum():
        raise ValueError(f"{name} is a short code such as 'book' or 'voicemail', not text")
    return value


def call_started(
    db: Database,
    call_id: str,
    practice_id: int,
    *,
    at: datetime | None = None,
) -> None:
    """Log the start of a call (idempotent: a second call with the same id changes nothing)."""
    with db.session() as session:
        if session.get(CallRecord, call_id) is None:
            session.add(CallRecord(id=call_id, practice_id=practice_id, started_at=at or utcnow()))


def call_ended(
    db: Database,
    call_id: str,
    *,
    outcome: str,
    verified: bool = False,
    intent: str | None = None,
    patient_id: int | None = None,
    recording_object_id: str | None = None,
    transcript_object_id: str | None = None,
    recognition_delay_ms: int | None = None,
    practice_id: int | None = None,
    at: datetime | None = None,
) -> None:
    """Log the end of a call and what came of it (``outcome``/``intent`` are short codes)."""
    ended = at or utcnow()
    _code(outcome, "outcome")
    _code(intent, "intent")
    with db.session() as session:
        row = session.get(CallRecord, call_id, with_for_update=True)
        if row is None:
            if practice_id is None:
                raise ValueError(f"call {call_id} was never started; give its practice_id")
            row = CallRecord(id=call_id, practice_id=practice_id, started_at=ended)
            session.add(row)
        row.ended_at = ended
        row.duration_seconds = max(0, int((ended - row.started_at).total_seconds()))
        row.outcome = outcome
        row.verified = verified
        row.intent = intent
        row.patient_id = patient_id if verified else None
        row.recording_object_id = recording_object_id
        row.transcript_object_id = transcript_object_id
        row.recognition_delay_ms = recognition_delay_ms
