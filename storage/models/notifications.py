"""The notification outbox: messages to send (booking confirmations, staff alerts).

A row is written in the same transaction as what it tells (the booking, the urgent
escalation), so nothing is announced that did not happen and nothing that happened is
lost; a periodic job of ``telesec serve`` sends it (``notify.dispatch``). A row holds
ids and codes only: the text is composed when it is sent, the recipient read then (a
patient's number is sealed with their identity). Write it through
:mod:`storage.outbox`.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


class NotificationKind(enum.StrEnum):
    BOOKING_CONFIRMATION = "booking_confirmation"  # to the patient
    NEW_VOICEMAIL = "new_voicemail"  # to the doctor (else the practice's recipients)
    URGENT_ESCALATION = "urgent_escalation"  # to the practice's recipients


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"  # nothing to send it by, or nobody to send it to
    FAILED = "failed"  # gave up after the last attempt


def _enum(kind: type[enum.StrEnum]) -> Enum:
    return Enum(kind, native_enum=False, length=32,
                values_callable=lambda kinds: [k.value for k in kinds])


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[NotificationKind] = mapped_column(_enum(NotificationKind))
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    patient_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", ondelete="SET NULL")
    )
    practitioner_id: Mapped[int | None] = mapped_column(
        ForeignKey("practitioners.id", ondelete="SET NULL")
    )
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )
    escalation_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[NotificationStatus] = mapped_column(
        _enum(NotificationStatus), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[str | None] = mapped_column(String(16))  # sms, email: what it went by
    error: Mapped[str | None] = mapped_column(String(64))  # a code, never content
