"""Vault objects: metadata of encrypted blobs (recordings, voicemail, transcripts...).

The blob itself lives under the vault directory (``blob_path``); its data key is here,
wrapped under a keyring key (``kek_id``) and, for an object of a patient, under that
patient's key too (``key_patient_id``). A shredded object keeps its row as a tombstone
with no key and no link to a person (docs/vault-format.md).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


class ObjectKind(enum.StrEnum):
    RECORDING = "recording"
    VOICEMAIL = "voicemail"
    TRANSCRIPT = "transcript"
    EXPORT = "export"
    SPOOL = "spool"


class ObjectStatus(enum.StrEnum):
    WRITING = "writing"
    COMPLETE = "complete"
    TRUNCATED = "truncated"
    SHREDDED = "shredded"


def _enum(kind: type[enum.StrEnum]) -> Enum:
    return Enum(kind, native_enum=False, length=16,
                values_callable=lambda kinds: [k.value for k in kinds])


class VaultObject(Base):
    __tablename__ = "vault_objects"
    __table_args__ = (
        Index("ix_vault_objects_status_expires", "status", "expires_at"),
        Index("ix_vault_objects_patient", "patient_id"),
        Index("ix_vault_objects_kek", "kek_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # 128 bits, hex
    kind: Mapped[ObjectKind] = mapped_column(_enum(ObjectKind))
    status: Mapped[ObjectStatus] = mapped_column(_enum(ObjectStatus),
                                                 default=ObjectStatus.WRITING)
    practice_id: Mapped[int | None] = mapped_column(
        ForeignKey("practices.id", ondelete="SET NULL")
    )
    patient_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", ondelete="SET NULL")
    )
    practitioner_id: Mapped[int | None] = mapped_column(
        ForeignKey("practitioners.id", ondelete="SET NULL")
    )
    call_id: Mapped[str | None] = mapped_column(String(64))
    media_type: Mapped[str | None] = mapped_column(String(100))
    retention_class: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    size: Mapped[int] = mapped_column(BigInteger, default=0)  # plaintext bytes
    kek_id: Mapped[str | None] = mapped_column(String(64))
    wrapped_dek: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The patient whose key the data key is also wrapped under (NULL: the KEK alone).
    # Not cleared by erasure like patient_id: the object is shredded instead.
    key_patient_id: Mapped[int | None] = mapped_column(Integer)
    blob_path: Mapped[str | None] = mapped_column(String(255))  # relative to the vault dir
