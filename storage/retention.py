"""Retention: the destruction of vault objects whose time is up, and on request.

How long each kind lives is :class:`storage.vault.retention_policy.RetentionPolicy`.
Destruction is crypto-shredding (docs/vault-format.md): the object id goes on the
keyring's shred register, then one transaction destroys the wrapped data key, strips
the row down to a tombstone and writes the audit event, then the blob is deleted
(:meth:`storage.vault.Vault.destroy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from storage.models import ObjectKind, ObjectStatus, VaultObject, utcnow
from storage.vault import Vault
from storage.vault.retention_policy import RECORDING_CAP_DAYS

LIVE = (ObjectStatus.COMPLETE, ObjectStatus.TRUNCATED)


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
            return self.vault.destroy(session, object_id, actor=actor, purpose=purpose, now=now)
