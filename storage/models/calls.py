"""The calls log and the escalation queue.

No health data in clear here: a call names its patient by id (only once verified) and
its recording and transcript by vault object id; an escalation's ``context`` is JSON of
codes and ids (the intent, the reason, the transcript object id), never what was said.
The caller's number, kept with an escalation so a secretary can call back, is sealed.
Write them through :mod:`storage.calls` and :mod:`storage.escalations`.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, column_property, mapped_column

from storage.identity import EncryptedIdentity, RowBound
from storage.models.base import Base, UTCDateTime, utcnow


class EscalationStatus(enum.StrEnum):
    WAITING = "waiting"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


class CallRecord(Base):
    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_practice_started", "practice_id", "started_at"),
        Index("ix_calls_patient", "patient_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the call id
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(32))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    intent: Mapped[str | None] = mapped_column(String(32))
    patient_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", ondelete="SET NULL")
    )
    recording_object_id: Mapped[str | None] = mapped_column(String(32))
    transcript_object_id: Mapped[str | None] = mapped_column(String(32))
    recognition_delay_ms: Mapped[int | None] = mapped_column(Integer)


class Escalation(Base):
    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_status_practice", "status", "practice_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64))
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    status: Mapped[EscalationStatus] = mapped_column(
        Enum(EscalationStatus, native_enum=False, length=16,
             values_callable=lambda kinds: [k.value for k in kinds]),
        default=EscalationStatus.WAITING,
    )
    priority: Mapped[bool] = mapped_column(Boolean, default=False)
    patient_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", ondelete="SET NULL")
    )
    context: Mapped[str] = mapped_column(Text, default="{}")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(String(32))
    # The number to call back: sealed under the KEK (storage.identity; not a patient row).
    caller_number_sealed: Mapped[RowBound | None] = mapped_column(
        EncryptedIdentity("escalations.caller_number", per_patient=False),
        deferred=True,  # opened on demand
    )
    call_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    call_outcome: Mapped[str | None] = mapped_column(String(32))  # calls log outcome code
    voicemail_object_id: Mapped[str | None] = mapped_column(String(32))
    # Call-back attempts, JSON [{at, by, outcome}]: codes, logins and times only.
    callbacks: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")


# Whether a number to call back is kept, without opening it.
Escalation.has_caller_number = column_property(  # type: ignore[attr-defined]
    Escalation.__table__.c.caller_number_sealed.is_not(None)
)
