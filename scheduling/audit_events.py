"""The audit events of the agenda: who changed or read what, written in the same transaction.

Every change of the agenda (holds, appointments, practice set-up) and every read of a
patient's appointments appends one event through :func:`record`, inside the transaction
of the change: a rolled-back change leaves no event, a committed one always has its
event. The event is built when :func:`record` is called and joins the chain at the
commit (:func:`storage.audit.record_at_commit`): the chain's head is locked last, for
the shortest time. Details carry object ids and counts, never names or visit labels.

Who acts travels as one :class:`Who` (the actor, checked when it is made, and an
optional purpose); what is done is one of the :class:`Action` constants below, which
know their object type and the purpose written when the caller gives none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from storage import audit

_ACTOR = re.compile(r"^(staff|ivr|system|cli):\S+$")


def require_actor(actor: str) -> str:
    """``actor`` if it is ``staff:<login>``, ``ivr:<call>``, ``system:<job>`` or ``cli:<user>``."""
    if not isinstance(actor, str) or not _ACTOR.match(actor):
        raise ValueError(
            f"actor {actor!r}: use staff:<login>, ivr:<call id>, system:<job> or cli:<user>"
        )
    return actor


@dataclass(frozen=True, slots=True)
class Who:
    """Who acts and why; a malformed actor is refused here, before anything is read."""

    actor: str
    purpose: str | None = None

    def __post_init__(self) -> None:
        require_actor(self.actor)


@dataclass(frozen=True, slots=True)
class Action:
    """An audited action: its name (``<object>.<verb>``), object type and default purpose.

    An empty default purpose means the caller must give one (reads of health data).
    """

    name: str
    object_type: str
    default_purpose: str


HOLD_CREATE = Action("hold.create", "hold", "keep a slot while the booking is confirmed")
HOLD_RELEASE = Action("hold.release", "hold", "give back a slot that was not booked")
HOLD_EXPIRE = Action("hold.expire", "hold", "free slots of holds nobody confirmed")
APPOINTMENT_BOOK = Action("appointment.book", "appointment", "book an appointment")
APPOINTMENT_CANCEL = Action("appointment.cancel", "appointment", "cancel an appointment")
APPOINTMENT_MOVE = Action("appointment.move", "appointment", "move an appointment")
APPOINTMENT_IMPORT = Action(
    "appointment.import", "appointment", "record past or imported appointments"
)
APPOINTMENT_READ = Action("appointment.read", "appointment", "")
PATIENT_APPOINTMENTS_READ = Action("patient.appointments.read", "patient", "")


def record(
    session: Session,
    action: Action,
    who: Who,
    *,
    object_id: object | None = None,
    patient_id: int | None = None,
    practice_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event for ``action`` by ``who`` in the caller's transaction."""
    purpose = who.purpose if who.purpose and who.purpose.strip() else action.default_purpose
    audit.record_at_commit(
        session,
        actor=who.actor,
        action=action.name,
        object_type=action.object_type,
        object_id=None if object_id is None else str(object_id),
        purpose=purpose,
        patient_id=patient_id,
        practice_id=practice_id,
        detail=detail,
    )
