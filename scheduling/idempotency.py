"""Idempotency keys: the same request twice answers the first result and changes nothing.

A booking or a move carries a key chosen by its caller (``ivr:<call>-...``,
``staff:<key>``); the appointment it made stores it under a unique index. A replay of
the same request finds that appointment; the same key for a different request raises
:class:`IdempotencyKeyReused` (a caller's bug, not a refusal to tell a patient).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduling.errors import IdempotencyKeyReused
from scheduling.values import Booked, Rescheduled
from scheduling.views import appointment_view
from storage.models import Appointment


def _made_with(session: Session, key: str) -> Appointment | None:
    return session.scalar(select(Appointment).where(Appointment.idempotency_key == key))


def replayed_booking(session: Session, key: str, patient_id: int) -> Booked | None:
    """The booking ``key`` already made for ``patient_id``, or None if the key is new."""
    return booking_replay(session, _made_with(session, key), patient_id)


def booking_replay(session: Session, row: Appointment | None, patient_id: int) -> Booked | None:
    """The booking answered again, when ``row`` (made with the request's key, read by
    the caller) is one; None when no appointment was made with the key."""
    if row is None:
        return None
    if row.patient_id != patient_id or row.replaces_id is not None:
        raise IdempotencyKeyReused()
    return Booked(appointment_view(session, row))


def replayed_move(session: Session, key: str, appointment_id: int) -> Rescheduled | None:
    """The move of ``appointment_id`` that ``key`` already made, or None if the key is new."""
    row = _made_with(session, key)
    if row is None:
        return None
    if row.replaces_id != appointment_id:
        raise IdempotencyKeyReused()
    old = session.get_one(Appointment, appointment_id)
    return Rescheduled(appointment_view(session, old), appointment_view(session, row))


def key_used(session: Session, key: str) -> bool:
    """True when an appointment was already made with ``key``."""
    found = session.scalar(select(Appointment.id).where(Appointment.idempotency_key == key))
    return found is not None
