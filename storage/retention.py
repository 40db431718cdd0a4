"""Retention: how long each kind of vault object lives, and its destruction when due.

Destruction is crypto-shredding (docs/vault-format.md): the object id goes on the
keyring's shred register, then one transaction destroys the wrapped data key, strips
the row down to a tombstone and writes the audit event, then the blob is deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, event, or_, select
from sqlalchemy.orm import Session

from storage import audit
from storage.models import ObjectKind, ObjectStatus, VaultObject, utcnow

if TYPE_CHECKING:
    from storage.vault import Vault

log = logging.getLogger(__name__)

RECORDING_CAP_DAYS = 180  # CNIL: call recordings are kept at most six months
LIVE = (ObjectStatus.COMPLETE, ObjectStatus.TRUNCATED)


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each retention class lives. Voicemail counts from when it was handled.

    ``recording_days`` is capped at 180 whatever is configured.
    """

    recording_days: int = 30
    voicemail_days_after_handled: int = 30
    transcript_days: int = 30
    export_days: int = 7
    spool_days: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.recording_days <= RECORDING_CAP_DAYS:
            log.warning("recording retention of %s days is outside 1..%s; using %s",
                        self.recording_days, RECORDING_CAP_DAYS, RECORDING_CAP_DAYS)
            object.__setattr__(self, "recording_days",
                               min(max(self.recording_days, 1), RECORDING_CAP_DAYS))

    @classmethod
    def from_settings(cls, retention: Any) -> RetentionPolicy:
        """Build from ``Settings.retention`` (any object with the same attribute names)."""
        return cls(
            recording_days=retention.recording_days,
            voicemail_days_after_handled=retention.voicemail_days_after_handled,
            transcript_days=retention.transcript_days,
            export_days=retention.export_days,
        )

    def created_days(self) -> dict[str, int]:
        """Lifetime from creation of each class counted from creation."""
        return {
            ObjectKind.RECORDING.value: self.recording_days,
            ObjectKind.TRANSCRIPT.value: self.transcript_days,
            ObjectKind.EXPORT.value: self.export_days,
            ObjectKind.SPOOL.value: self.spool_days,
        }

    def expires_at(self, retention_class: str, created: datetime) -> datetime | None:
        """Expiry of a new object; None for voicemail (set when it is handled)."""
        if retention_class == ObjectKind.VOICEMAIL.value:
            return None
        try:
            return created + timedelta(days=self.created_days()[retention_class])
        except KeyError:
            raise ValueError(f"unknown retention class {retention_class!r}") from None

    def expires_after_handling(self, retention_class: str, handled: datetime) -> datetime | None:
        if retention_class == ObjectKind.VOICEMAIL.value:
            return handled + timedelta(days=self.voicemail_days_after_handled)
        return None


@dataclass
class RetentionReport:
    dry_run: bool
    due: list[tuple[str, str]] = field(default_factory=list)  # (object id, kind)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _object_id, kind in self.due:
            counts[kind] = counts.get(kind, 0) + 1
        return counts


class Retention:
    """Applies the vault's policy: :meth:`run` when due, :meth:`shred` on request."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.policy = vault.policy

    def due(self, now: datetime | None = None) -> list[tuple[str, str]]:
        """``(id, kind)`` of live objects whose time is up (policy changes apply at once)."""
        now = now or utcnow()
        clauses = [
            VaultObject.expires_at <= now,
            and_(VaultObject.kind == ObjectKind.RECORDING,
                 VaultObject.created_at <= now - timedelta(days=RECORDING_CAP_DAYS)),
            and_(VaultObject.retention_class == ObjectKind.VOICEMAIL.value,
                 VaultObject.handled_at <= now - timedelta(
                     days=self.policy.voicemail_days_after_handled)),
        ]
        for klass, days in self.policy.created_days().items():
            clauses.append(and_(VaultObject.retention_class == klass,
                                VaultObject.created_at <= now - timedelta(days=days)))
        with self.vault.db.session() as session:
            rows = session.execute(
                select(VaultObject.id, VaultObject.kind)
                .where(VaultObject.status.in_(LIVE), or_(*clauses))
                .order_by(VaultObject.created_at)
            ).all()
        return [(object_id, ObjectKind(kind).value) for object_id, kind in rows]

    def run(self, now: datetime | None = None, *, dry_run: bool = False,
            actor: str = "system:retention") -> RetentionReport:
        """Shred every object that is due; with ``dry_run`` only say which."""
        report = RetentionReport(dry_run=dry_run, due=self.due(now))
        if not dry_run and report.due:
            ids = [object_id for object_id, _kind in report.due]
            self.vault.keyring.record_shredded(ids)
            for object_id in ids:
                self._destroy(object_id, actor=actor, purpose="retention period over",
                              now=now)
            self.vault.db.truncate_wal()  # no older copy of the data keys stays in the WAL
        return report

    def shred(self, object_id: str, *, actor: str, purpose: str,
              now: datetime | None = None) -> bool:
        """Destroy one object now (erasure request); False if it was already destroyed."""
        self.vault.keyring.record_shredded([object_id])
        return self._destroy(object_id, actor=actor, purpose=purpose, now=now)

    def shred_patient(self, patient_id: int, *, actor: str, purpose: str) -> list[str]:
        """Destroy every object linked to a patient; returns their ids."""
        with self.vault.db.session() as session:
            ids = list(session.scalars(
                select(VaultObject.id).where(VaultObject.patient_id == patient_id,
                                             VaultObject.status != ObjectStatus.SHREDDED)
            ).all())
        self.vault.keyring.record_shredded(ids)
        return [i for i in ids if self._destroy(i, actor=actor, purpose=purpose)]

    def _destroy(self, object_id: str, *, actor: str, purpose: str,
                 now: datetime | None = None) -> bool:
        with self.vault.db.session() as session:
            return destroy_in_session(self.vault, session, object_id, actor=actor,
                                      purpose=purpose, now=now)


def destroy_in_session(vault: Vault, session: Session, object_id: str, *, actor: str,
                       purpose: str, now: datetime | None = None) -> bool:
    """Crypto-shred one object inside the caller's transaction.

    The caller has put the id on the keyring's shred register. The data key is
    destroyed and the event audited with the caller's commit; the blob is deleted
    after that commit (and by :meth:`Vault.recover` if the process dies first).
    Returns False if the object was already destroyed.
    """
    row = session.get(VaultObject, object_id, with_for_update=True)
    if row is None or row.status is ObjectStatus.SHREDDED:
        return False
    relative, patient_id, kind = row.blob_path, row.patient_id, ObjectKind(row.kind)
    row.wrapped_dek = None
    row.kek_id = None
    row.key_patient_id = None
    row.status = ObjectStatus.SHREDDED
    row.shredded_at = now or utcnow()
    row.patient_id = row.practitioner_id = None
    row.call_id = None
    row.blob_path = None
    audit.record(
        session, actor=actor, action=f"{kind.value}.shred", object_type="vault_object",
        object_id=object_id, purpose=purpose, patient_id=patient_id,
        practice_id=row.practice_id, detail={"size": row.size},
    )
    session.flush()
    if relative:
        event.listen(session, "after_commit", lambda _s: vault.delete_blob(relative), once=True)
    return True
