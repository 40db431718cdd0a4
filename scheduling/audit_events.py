"""The audit events of the agenda: who changed or read what, written in the same transaction.

Every change of the agenda (holds, appointments, practice set-up) and every read of a
patient's appointments appends one event through :func:`storage.audit.record`, inside
the transaction of the change: a rolled-back change leaves no event, a committed one
always has its event. Details carry object ids and counts, never names or visit labels.
"""

from __future__ import annotations

import re
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


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: object | None,
    purpose: str | None,
    default_purpose: str,
    patient_id: int | None = None,
    practice_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit event; ``purpose`` falls back to ``default_purpose`` when not given."""
    audit.record(
        session,
        actor=require_actor(actor),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        purpose=purpose if purpose and purpose.strip() else default_purpose,
        patient_id=patient_id,
        practice_id=practice_id,
        detail=detail,
    )
