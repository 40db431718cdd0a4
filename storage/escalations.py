"""The escalation queue: calls waiting for a human secretary, with their context.

The phone side calls :func:`publish` (no web framework needed); the staff API lists,
claims and resolves, and streams changes to the consoles. Every change bumps the row's
``revision``, so a reader polling the waiting and claimed rows sees every change, from
any process. In-process listeners may also :func:`subscribe` to be woken at once.

``context`` holds codes and ids only: the intent, the reason for the escalation, the
vault id of the transcript so far. Who the caller is is ``patient_id``, set only once
the caller is verified.

After the call: the phone side tells the queue how the call ended (:func:`call_ended`:
answered by a secretary, or the caller hung up while waiting) and links the voicemail
the caller left after the transfer. The number to call back is kept sealed with the
escalation (like a patient's identity, ``storage.identity``); :func:`caller_number`
opens it for one secretary's click (the API audits it). A secretary records each
call-back attempt (:func:`record_callback`: reached, message left, no answer); reaching
the caller resolves the escalation as ``called_back``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, select, type_coerce
from sqlalchemy.orm.attributes import flag_modified

from storage import outbox
from storage.db import Database
from storage.identity import RowBound, cipher, sealed_kek_id
from storage.models import (
    Escalation,
    EscalationStatus,
    NotificationKind,
    ObjectKind,
    VaultObject,
    utcnow,
)
from storage.patients import normalise_phone

CONTEXT_KEYS = frozenset({"intent", "reason", "transcript_object_id", "language", "verified"})
CALLBACK_OUTCOMES = ("reached", "message_left", "no_answer")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
ANSWERED_OUTCOME = "transferred"  # the calls log outcome of a call a secretary answered

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
    caller_number_known: bool = False  # a number to call back is kept (sealed)
    call_ended_at: datetime | None = None
    call_outcome: str | None = None  # calls log outcome: transferred, caller_hung_up, ...
    voicemail_object_id: str | None = None
    callbacks: tuple[dict[str, str], ...] = ()  # {at, by, outcome}

    @property
    def caller_line(self) -> str:
        """``waiting`` (still on the line), ``answered`` (a secretary took the call by
        phone) or ``hung_up`` (the call ended before anyone answered)."""
        if self.call_ended_at is None:
            return "waiting"
        return "answered" if self.call_outcome == ANSWERED_OUTCOME else "hung_up"


def view(row: Escalation) -> EscalationView:
    return EscalationView(
        id=row.id, call_id=row.call_id, practice_id=row.practice_id,
        status=EscalationStatus(row.status).value, priority=row.priority,
        patient_id=row.patient_id, context=json.loads(row.context or "{}"),
        revision=row.revision, created_at=row.created_at, claimed_at=row.claimed_at,
        claimed_by=row.claimed_by, resolved_at=row.resolved_at, resolution=row.resolution,
        caller_number_known=_has_number(row), call_ended_at=row.call_ended_at,
        call_outcome=row.call_outcome, voicemail_object_id=row.voicemail_object_id,
        callbacks=tuple(json.loads(row.callbacks or "[]")),
    )


def _has_number(row: Escalation) -> bool:
    return bool(row.has_caller_number)  # type: ignore[attr-defined]


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
    caller_number: str | None = None,
    voicemail_object_id: str | None = None,
) -> int:
    """Put a call on the queue for a human; returns the escalation id.

    ``patient_id`` only for a verified caller. Codes and ids only: never what was said.
    ``caller_number`` (the caller ID, or the number they gave to be called back) is
    sealed with the escalation. A ``priority`` escalation alerts staff (the outbox).
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
            revision=1, created_at=utcnow(), callbacks="[]",
            voicemail_object_id=voicemail_object_id,
        )
        session.add(row)
        session.flush()
        escalation_id = row.id
        number = callback_number(caller_number)
        if number:
            row.caller_number_sealed = RowBound(row.id, number)
        if priority:  # staff are told at once that an urgent call waits (no health data)
            outbox.enqueue(session, NotificationKind.URGENT_ESCALATION, practice_id,
                           escalation_id=escalation_id)
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


def reopen(db: Database, escalation_id: int) -> EscalationView | None:
    """The secretary who took the call lost it (her page reloaded or closed): claimed →
    waiting again, so the card rings anew; None if it was not claimed any more."""
    with db.session() as session:
        row = _locked(session, escalation_id)
        if row.status is not EscalationStatus.CLAIMED:
            return None
        row.status, row.claimed_by, row.claimed_at = EscalationStatus.WAITING, None, None
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


# ---- after the call ---------------------------------------------------------------------


def call_ended(db: Database, call_id: str, *, outcome: str,
               caller_number: str | None = None, practice_id: int | None = None) -> list[int]:
    """The call ``call_id`` to ``practice_id`` is over (``outcome``: its calls log code).
    Its open escalations learn how it ended, get the voicemail the caller left (if any)
    and, when they have none yet, ``caller_number``. Returns the escalations changed.

    The call id is the caller's SIP Call-ID, which a caller may copy from another call:
    give ``practice_id`` so that nothing reaches another practice's escalations."""
    changed = []
    with db.session() as session:
        query = select(Escalation).where(
            Escalation.call_id == call_id, Escalation.call_ended_at.is_(None))
        if practice_id is not None:
            query = query.where(Escalation.practice_id == practice_id)
        rows = session.scalars(query.with_for_update()).all()
        if not rows:
            return []
        voicemail = _voicemail_of(session, call_id, rows[0].practice_id) \
            if practice_id is not None else _voicemail_of(session, call_id)
        number = callback_number(caller_number)
        for row in rows:
            row.call_ended_at, row.call_outcome = utcnow(), outcome[:32]
            if voicemail and not row.voicemail_object_id:
                row.voicemail_object_id = voicemail
            if number and not _has_number(row):
                row.caller_number_sealed = RowBound(row.id, number)
            row.revision += 1
            changed.append(row.id)
    _notify()
    return changed


def link_voicemail(db: Database, call_id: str, voicemail_object_id: str) -> int | None:
    """Attach a voicemail to the latest escalation of its call; its id, or None."""
    with db.session() as session:
        row = session.scalar(select(Escalation).where(Escalation.call_id == call_id)
                             .order_by(Escalation.id.desc()).limit(1).with_for_update())
        if row is None:
            return None
        if row.voicemail_object_id != voicemail_object_id:
            row.voicemail_object_id = voicemail_object_id
            row.revision += 1
        escalation_id = row.id
    _notify()
    return escalation_id


def urgent_voicemail(db: Database, *, call_id: str, practice_id: int, voicemail_object_id: str,
                     transcript_object_id: str | None, patient_id: int | None = None,
                     language: str | None = None) -> int:
    """An emergency was heard in a voicemail: make its escalation urgent (or raise one),
    linked to the message; staff are alerted. Returns the escalation id."""
    with db.session() as session:
        row = session.scalar(select(Escalation).where(
            Escalation.call_id == call_id, Escalation.practice_id == practice_id,
            Escalation.status != EscalationStatus.RESOLVED,
        ).order_by(Escalation.id.desc()).limit(1).with_for_update())
        if row is not None:
            context = json.loads(row.context or "{}")
            context["reason"] = "emergency_voicemail"
            if transcript_object_id:
                context["transcript_object_id"] = transcript_object_id
            row.context = json.dumps(context, sort_keys=True)
            row.voicemail_object_id = voicemail_object_id
            was_urgent, row.priority = row.priority, True
            row.revision += 1
            escalation_id = row.id
            if not was_urgent:
                outbox.enqueue(session, NotificationKind.URGENT_ESCALATION, row.practice_id,
                               escalation_id=escalation_id)
    if row is not None:
        _notify()
        return escalation_id
    return publish(db, call_id=call_id, practice_id=practice_id, intent="message",
                   reason="emergency_voicemail", patient_id=patient_id,
                   transcript_object_id=transcript_object_id, priority=True,
                   language=language, voicemail_object_id=voicemail_object_id)


def caller_number(db: Database, escalation_id: int) -> str | None:
    """The number to call back, opened (E.164), or None. Audit the read where it is shown."""
    with db.read_session() as session:
        row = session.get(Escalation, escalation_id)
        bound = row.caller_number_sealed if row is not None else None
        return bound.text if bound is not None else None


def record_callback(db: Database, escalation_id: int, login: str, outcome: str
                    ) -> EscalationView:
    """A secretary called back: ``reached``, ``message_left`` or ``no_answer``.

    Reaching the caller resolves the escalation (``called_back``); the other outcomes
    keep it open for another try. Refused on a resolved escalation.
    """
    if outcome not in CALLBACK_OUTCOMES:
        raise ValueError(f"call-back outcome is one of {', '.join(CALLBACK_OUTCOMES)}")
    with db.session() as session:
        row = _locked(session, escalation_id)
        if row.status is EscalationStatus.RESOLVED:
            raise EscalationConflict(f"escalation {escalation_id} is already resolved")
        if row.status is EscalationStatus.CLAIMED and row.claimed_by != login:
            raise EscalationConflict(f"escalation {escalation_id} was claimed by someone else")
        now = utcnow()
        attempts = json.loads(row.callbacks or "[]")
        attempts.append({"at": now.isoformat(), "by": login, "outcome": outcome})
        row.callbacks = json.dumps(attempts)
        if row.claimed_by is None:
            row.status, row.claimed_by, row.claimed_at = EscalationStatus.CLAIMED, login, now
        if outcome == "reached":
            row.status, row.resolved_at, row.resolution = (
                EscalationStatus.RESOLVED, now, "called_back")
        row.revision += 1
        session.flush()
        result = view(row)
    _notify()
    return result


def callback_number(raw: str | None) -> str | None:
    """The E.164 form of a caller ID or a number given, if it is a phone number at all
    (``anonymous``, an extension or garbage give None)."""
    number = normalise_phone(raw) if raw else ""
    return number if _E164.match(number) else None


def _voicemail_of(session: Any, call_id: str, practice_id: int | None = None) -> str | None:
    query = select(VaultObject.id).where(
        VaultObject.call_id == call_id, VaultObject.kind == ObjectKind.VOICEMAIL)
    if practice_id is not None:
        query = query.where(VaultObject.practice_id == practice_id)
    return session.scalar(query.order_by(VaultObject.created_at.desc()).limit(1))


def reseal_caller_numbers(db: Database) -> int:
    """Re-encrypt the numbers to call back still sealed under an older KEK (key rotation,
    like ``PatientDirectory.reseal_all``); returns how many were resealed."""
    current = cipher().keyring.current_kek_id
    raw = type_coerce(Escalation.__table__.c.caller_number_sealed, LargeBinary)
    with db.session() as session:
        stale = [row_id for row_id, blob in session.execute(
            select(Escalation.id, raw).where(raw.is_not(None)))
            if sealed_kek_id(bytes(blob)) != current]
        for row in session.scalars(select(Escalation).where(Escalation.id.in_(stale))):
            row.caller_number_sealed = RowBound(row.id, row.caller_number_sealed.text)
            flag_modified(row, "caller_number_sealed")
        return len(stale)
