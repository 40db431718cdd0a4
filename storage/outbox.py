"""The notification outbox: write a message to send in the transaction of what it tells.

:func:`enqueue` is called inside the caller's transaction (the booking, the urgent
escalation, the voicemail completed), so a message exists exactly when what it tells
was committed. The rows hold ids and codes; the sender (``notify.dispatch``, run by
``telesec serve``) composes the text and finds the recipient when it sends.

Sending is leased so that several engine nodes never send one message twice:
:func:`claim_due` takes due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), counts the
attempt and moves their next attempt a lease ahead, in one short transaction; the
message is then sent outside any transaction, and :func:`finish` records the result.
A node that dies in between leaves the row to be tried again when the lease ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import (
    Notification,
    NotificationKind,
    NotificationStatus,
    ObjectKind,
    VaultObject,
    utcnow,
)

LEASE = timedelta(minutes=5)
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15),
                timedelta(hours=1), timedelta(hours=4))
KEEP_FINISHED = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Pending:
    """A message to send now (ids only)."""

    id: int
    kind: NotificationKind
    practice_id: int
    patient_id: int | None
    practitioner_id: int | None
    appointment_id: int | None
    escalation_id: int | None
    attempts: int  # including this one


def enqueue(
    session: Session,
    kind: NotificationKind,
    practice_id: int,
    *,
    patient_id: int | None = None,
    practitioner_id: int | None = None,
    appointment_id: int | None = None,
    escalation_id: int | None = None,
) -> None:
    """Add a message to send, in the caller's transaction (written at once, in one
    statement built once: no ORM object to flush)."""
    now = utcnow()
    session.connection().execute(_ENQUEUE, {
        "kind": kind, "practice_id": practice_id, "patient_id": patient_id,
        "practitioner_id": practitioner_id, "appointment_id": appointment_id,
        "escalation_id": escalation_id, "status": NotificationStatus.PENDING, "attempts": 0,
        "next_attempt_at": now, "created_at": now})


_ENQUEUE = insert(Notification.__table__).values({
    name: bindparam(name, type_=Notification.__table__.c[name].type)
    for name in ("kind", "practice_id", "patient_id", "practitioner_id", "appointment_id",
                 "escalation_id", "status", "attempts", "next_attempt_at", "created_at")})


def claim_due(db: Database, *, now: datetime | None = None, limit: int = 50) -> list[Pending]:
    """Take the messages due now for sending (leased; see the module docstring)."""
    now = now or utcnow()
    with db.session() as session:
        rows = session.scalars(
            select(Notification)
            .where(Notification.status == NotificationStatus.PENDING,
                   Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        taken = []
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = now + LEASE
            taken.append(Pending(row.id, NotificationKind(row.kind), row.practice_id,
                                 row.patient_id, row.practitioner_id, row.appointment_id,
                                 row.escalation_id, row.attempts))
        return taken


def finish(
    db: Database,
    notification_id: int,
    status: NotificationStatus,
    *,
    channel: str | None = None,
    error: str | None = None,
    now: datetime | None = None,
) -> None:
    """Record a message sent, skipped or failed for good."""
    now = now or utcnow()
    with db.session() as session:
        row = session.get(Notification, notification_id)
        if row is None:
            return
        row.status = status
        row.channel = channel
        row.error = error[:64] if error else None
        if status is NotificationStatus.SENT:
            row.sent_at = now


def retry_later(db: Database, notification_id: int, attempts: int, error: str,
                *, max_attempts: int, now: datetime | None = None) -> bool:
    """A failed attempt: try again later, or give up after ``max_attempts`` (False)."""
    now = now or utcnow()
    if attempts >= max_attempts:
        finish(db, notification_id, NotificationStatus.FAILED, error=error, now=now)
        return False
    delay = RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)]
    with db.session() as session:
        row = session.get(Notification, notification_id)
        if row is not None:
            row.next_attempt_at = now + delay
            row.error = error[:64]
    return True


def purge_finished(db: Database, *, now: datetime | None = None) -> int:
    """Delete messages finished (sent, skipped, failed) more than 30 days ago."""
    cutoff = (now or utcnow()) - KEEP_FINISHED
    with db.session() as session:
        return session.execute(delete(Notification).where(
            Notification.status != NotificationStatus.PENDING,
            Notification.created_at < cutoff)).rowcount or 0


def voicemail_completed(session: Session, object_id: str) -> None:
    """A voicemail was just completed in the vault: tell its doctor (or the practice)."""
    row = session.get(VaultObject, object_id)
    if row is not None and row.kind is ObjectKind.VOICEMAIL and row.practice_id is not None:
        enqueue(session, NotificationKind.NEW_VOICEMAIL, row.practice_id,
                practitioner_id=row.practitioner_id)
