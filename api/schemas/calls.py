from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas.common import Code, Strict


class CallOut(BaseModel):
    id: str
    practice_id: int
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: int | None
    outcome: str | None
    verified: bool
    intent: str | None
    patient_id: int | None
    recording_id: str | None
    has_transcript: bool


class TranscriptOut(BaseModel):
    object_id: str
    text: str
    truncated: bool


class CallbackOut(BaseModel):
    at: datetime
    by: str
    outcome: str  # reached, message_left, no_answer


class EscalationOut(BaseModel):
    """A call waiting for a human: no health data, only codes and ids."""

    id: int
    call_id: str
    practice_id: int
    status: str
    priority: bool
    patient_id: int | None
    intent: str | None
    reason: str | None
    verified: bool
    transcript_object_id: str | None
    created_at: datetime
    claimed_at: datetime | None
    claimed_by: str | None
    resolved_at: datetime | None
    resolution: str | None
    caller_line: str = Field(description="waiting (on the line), answered (a secretary "
                             "took the call by phone) or hung_up (the call ended first)")
    call_ended_at: datetime | None = None
    caller_number_known: bool = Field(False, description="a number to call back is kept: "
                                      "GET /escalations/{id}/caller-number (audited)")
    voicemail_object_id: str | None = Field(None, description="the message the caller left")
    callbacks: list[CallbackOut] = []


class CallerOut(BaseModel):
    patient_id: int
    code: str
    first_name: str
    last_name: str
    birth_date: str
    phone: str | None
    provisional: bool = False  # filed by phone as new, identity as declared, to be confirmed


class EscalationDetailOut(EscalationOut):
    """An escalation with who the caller is (verified only) and what they said (audited)."""

    caller: CallerOut | None
    transcript: str | None


class ResolveIn(Strict):
    resolution: Code = Field(description="a short code: handled, called_back, booked, ...")


class CallbackIn(Strict):
    outcome: Literal["reached", "message_left", "no_answer"] = Field(
        description="reached resolves the escalation (called_back); the others keep it open")


class CallerNumberOut(BaseModel):
    number: str | None = Field(description="E.164, or null when the caller withheld it")


def escalation_out(view: Any) -> EscalationOut:
    context = view.context
    return EscalationOut(
        id=view.id, call_id=view.call_id, practice_id=view.practice_id, status=view.status,
        priority=view.priority, patient_id=view.patient_id, intent=context.get("intent"),
        reason=context.get("reason"), verified=bool(context.get("verified")),
        transcript_object_id=context.get("transcript_object_id"), created_at=view.created_at,
        claimed_at=view.claimed_at, claimed_by=view.claimed_by, resolved_at=view.resolved_at,
        resolution=view.resolution, caller_line=view.caller_line,
        call_ended_at=view.call_ended_at, caller_number_known=view.caller_number_known,
        voicemail_object_id=view.voicemail_object_id,
        callbacks=[CallbackOut(**attempt) for attempt in view.callbacks],
    )
