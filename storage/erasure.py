"""Erasure of one patient on request (GDPR art. 17).

In one transaction: every vault object of the patient is shredded (its data key
destroyed), their appointments are deleted (freeing the slots), their identity is
destroyed (the row stays as an empty tombstone so its id is never reused), the audit
events about them lose their plain ``patient_id`` and keep only the keyed pseudonym the
chain was built on, and the erasure itself is audited.

Before that transaction, the patient's identity key is destroyed in the keyring
(:meth:`storage.keyring.Keyring.record_erased`): every copy of their sealed identity,
wherever it is, no longer opens. After its commit, a SQLite WAL is emptied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, event, select, update
from sqlalchemy.orm import Session

from storage import audit
from storage.db import truncate_wal
from storage.identity import cipher
from storage.models import Appointment, AuditEvent, ObjectStatus, Patient, VaultObject
from storage.patients import PatientDirectory, UnknownPatient


class ObjectShredder(Protocol):
    """What erasure needs from the vault: destroy one object for good."""

    def shred(self, session: Session, object_id: str, *, actor: str, reason: str) -> object:
        ...


class ErasureRefused(RuntimeError):
    """The erasure cannot be complete; nothing was changed. The message says why."""


@dataclass(frozen=True, slots=True)
class ErasureReport:
    patient_ref: str
    objects_shredded: int
    appointments_removed: int
    audit_events_pseudonymised: int


def erase_patient(
    session: Session,
    patient_id: int,
    actor: str,
    reason: str,
    vault: ObjectShredder | None = None,
) -> ErasureReport:
    """Erase patient ``patient_id`` in the caller's transaction; see the module docstring."""
    if not reason.strip():
        raise ValueError("an erasure needs a reason (e.g. the request reference)")
    row = session.get(Patient, patient_id)
    if row is None or row.erased_at is not None:
        raise UnknownPatient(f"no patient {patient_id}")
    practice_id = row.practice_id
    object_ids = list(
        session.scalars(
            select(VaultObject.id).where(
                VaultObject.patient_id == patient_id,
                VaultObject.status != ObjectStatus.SHREDDED,
            )
        )
    )
    if object_ids and vault is None:
        raise ErasureRefused(
            f"patient {patient_id} has {len(object_ids)} vault objects and no vault was "
            "given to shred them; nothing was erased"
        )
    cipher().keyring.record_erased(patient_id)
    for object_id in object_ids:
        assert vault is not None
        vault.shred(session, object_id, actor=actor, reason=f"erasure: {reason}")
    removed = session.execute(
        delete(Appointment).where(Appointment.patient_id == patient_id)
    ).rowcount
    audit.record(
        session,
        actor=actor,
        action="patient.erase",
        object_type="patient",
        object_id=None,
        purpose=reason,
        patient_id=patient_id,
        practice_id=practice_id,
        detail={"objects_shredded": len(object_ids), "appointments_removed": removed},
    )
    PatientDirectory(session).destroy_identity(patient_id)
    pseudonymised = session.execute(
        update(AuditEvent).where(AuditEvent.patient_id == patient_id).values(patient_id=None)
    ).rowcount
    session.flush()
    bind = session.get_bind()
    event.listen(session, "after_commit", lambda _s: truncate_wal(bind.engine), once=True)
    return ErasureReport(
        patient_ref=cipher().patient_pseudonym(patient_id),
        objects_shredded=len(object_ids),
        appointments_removed=removed or 0,
        audit_events_pseudonymised=pseudonymised or 0,
    )
