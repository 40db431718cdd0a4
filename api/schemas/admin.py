from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from api.schemas.common import Strict, Text


class AuditEventOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str | None
    purpose: str
    patient_id: int | None
    practice_id: int | None
    detail: str


class VerificationOut(BaseModel):
    intact: bool
    events: int
    last_checkpoint_seq: int | None
    problems: list[str]
    summary: str


class ActorSummaryOut(BaseModel):
    actor: str
    reads: int
    changes: int
    patients: int


class PatientSummaryOut(BaseModel):
    label: str
    reads: int
    changes: int
    actors: list[str]


class FlagOut(BaseModel):
    kind: str
    actor: str
    at: datetime
    text: str


class AccessReportOut(BaseModel):
    since: datetime
    until: datetime
    events: int
    actors: list[ActorSummaryOut]
    patients: list[PatientSummaryOut]
    flags: list[FlagOut]


class RetentionOut(BaseModel):
    recording_days: int
    voicemail_days_after_handled: int
    transcript_days: int
    export_days: int
    recording_cap_days: int


class ReasonIn(Strict):
    reason: Text(300)  # type: ignore[valid-type]


class ExportOut(BaseModel):
    object_id: str
    patient_id: int
    size: int
    expires_at: datetime | None


class ErasureOut(BaseModel):
    patient_ref: str
    objects_shredded: int
    appointments_removed: int
    audit_events_pseudonymised: int


class HealthOut(BaseModel):
    status: str
    database: str
    trunks: dict[str, str] = {}
    """Each SIP account's state at the front (registered, failed, ip, unknown...)."""


class TrunkOut(BaseModel):
    """One SIP account or IP trunk of the front, as the running front last saw it."""

    name: str
    kind: str
    where: str
    """The account's address of record (register) or the provider's proxy (ip)."""
    numbers: list[str]
    state: str
    meaning: str
