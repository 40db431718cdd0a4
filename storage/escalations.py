"""The escalation queue: calls waiting for a human secretary, with their context.

The phone side calls :func:`publish` (no web framework needed); the staff API lists,
claims and resolves, and streams changes to the consoles. Every change bumps the row's
``revision``, so a reader polling the waiting and claimed rows sees every change, from
any process. In-process listeners may also :func:`subscribe` to be woken at once.

``context`` holds codes and ids only: the intent, the reason for the escalation, the
vault id of the transcript so far. Who the caller is is ``patient_id``, set only once
the caller is verified.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from storage.db import Database
from storage.models import Escalation, EscalationStatus, utcnow

CONTEXT_KEYS = frozenset({"intent", "reason", "transcript_object_id", "language", "verified"})

_listeners: list[Callable[[], None]] = []
_listeners_lock = threading.Lock()


def subscribe(wake: Callable[[], None]) -> Callable[[], None]:
    """Call ``wake()`` after every change made in this process; returns the unsubscriber."""
    with _listeners_lock:
        _listeners.append(wake)

    def unsubscribe() -> None:
        with _listeners_lock:
            if wake in _listeners:
                _listeners.remove(wake)

    return unsubscribe


def _notify() -> None:
    with _listeners_lock:
        wakers = list(_listeners)
    for wake in wakers:
        wake()


@dataclass(frozen=True, slots=True)
class EscalationView:
    id: int
    call_id: str
    practice_id: int
    status: str
    priority: bool
    patient_id: int | None
    context: dict[str, Any]
    revision: int
    created_at: datetime
    claimed_at: datetime | None
    claimed_by: str | None
    resolved_at: datetime | None
    resolution: str | None


def view(row: Escalation) -> EscalationView:
    return EscalationView(
        id=row.id, call_id=row.call_id, practice_id=row.practice_id,
        status=EscalationStatus(row.status).value, priority=row.priority,
        patient_id=row.patient_id, context=json.loads(row.context or "{}"),
        revision=row.revision, created_at=row.created_at, claimed_at=row.claimed_at,
        claimed_by=row.claimed_by, resolved_at=row.resolved_at, resolution=row.resolution,
    )


def publish(
    db: Database,
    *,
    call_id: str,
    practice_id: int,
    intent: str | None = None,
    reason: str | None = None,
    patient_id: int | None = None,
    transcript_object_id: str | None = None,
    priority: bool = False,
    language: str | None = None,
) -> int:
    """Put a call on the queue for a human; returns the escalation id.

    ``patient_id`` only for a verified caller. Codes and ids only: never what was said.
    """
    context = {
        "intent": intent, "reason": reason, "transcript_object_id": transcript_object_id,
        "language": language, "verified": patient_id is not None,
    }
    for key in ("intent", "reason", "language"):
        value = context[key]
        if value is not None and (len(value) > 32 or not value.replace("_", "").replace(
                "-", "").isalnum()):
            raise ValueError(f"escalation {key} is a short code, not free text")
    with db.session() as session:
        row = Escalation(
            call_id=call_id, practice_id=practice_id, status=EscalationStatus.WAITING,
            priority=priority, patient_id=patient_id,
            context=json.dumps({k: v for k, v in context.items() if v is not None},
                               sort_keys=True),
            revision=1, created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        escalation_id = row.id
    _notify()
    return escalation_id


class EscalationConflict(Exception):
    """The escalation is not in a state that allows this (already claimed, resolved)."""


def claim(db: Database, escalation_id: int, login: str) -> EscalationView:
    """A secretary takes the call: waiting → claimed (only one can)."""
    with db.session() as session:
        row = _locked(session, escalation_id)
        if row.status is not EscalationStatus.WAITING:
            raise EscalationConflict(
                f"escalation {escalation_id} is already {EscalationStatus(row.status).value}"
            )
        row.status, row.claimed_by, row.claimed_at = EscalationStatus.CLAIMED, login, utcnow()
        row.revision += 1
        session.flush()
        result = view(row)
    _notify()
    return result


def resolve(db: Database, escalation_id: int, login: str, resolution: str) -> EscalationView:
    """Close an escalation (by whoever claimed it, or unclaimed); ``resolution`` is a code."""
    with db.session() as session:
        row = _locked(session, escalation_id)
        if row.status is EscalationStatus.RESOLVED:
            raise EscalationConflict(f"escalation {escalation_id} is already resolved")
        if row.status is EscalationStatus.CLAIMED and row.claimed_by != login:
            raise EscalationConflict(
                f"escalation {escalation_id} was claimed by someone else"
            )
        row.status, row.resolved_at, row.resolution = (
            EscalationStatus.RESOLVED, utcnow(), resolution,
        )
        if row.claimed_by is None:
            row.claimed_by, row.claimed_at = login, row.resolved_at
        row.revision += 1
        session.flush()
        result = view(row)
    _notify()
    return result


def open_escalations(db: Database, practice_ids: list[int] | None = None) -> list[EscalationView]:
    """Waiting and claimed escalations (of ``practice_ids``, or all), priority then oldest."""
    with db.read_session() as session:
        query = select(Escalation).where(
            Escalation.status.in_([EscalationStatus.WAITING, EscalationStatus.CLAIMED])
        )
        if practice_ids is not None:
            query = query.where(Escalation.practice_id.in_(practice_ids))
        rows = session.scalars(
            query.order_by(Escalation.priority.desc(), Escalation.created_at, Escalation.id)
        )
        return [view(row) for row in rows]


def get(db: Database, escalation_id: int) -> EscalationView | None:
    with db.read_session() as session:
        row = session.get(Escalation, escalation_id)
        return view(row) if row is not None else None


def _locked(session: Any, escalation_id: int) -> Escalation:
    row = session.scalar(
        select(Escalation).where(Escalation.id == escalation_id).with_for_update()
    )
    if row is None:
        raise LookupError(f"no escalation {escalation_id}")
    return row
