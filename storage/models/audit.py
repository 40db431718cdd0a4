"""Audit tables: the event chain, its head (one row, the append lock) and checkpoints.

Only :mod:`storage.audit` writes them. Events are never updated, except that erasure
clears ``patient_id`` (a lookup column outside the hashed part; the hashed
``patient_ref`` is a keyed pseudonym from the start, and verification checks that a
cleared ``patient_id`` belongs to a patient whose erasure is in the chain).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime

HASH_LENGTH = 64


class AuditEvent(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(300))
    patient_ref: Mapped[str | None] = mapped_column(String(32), index=True)
    practice_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON, hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    # Not hashed: a convenience lookup, cleared when the patient is erased.
    patient_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # Where the request came from (e.g. a staff client's address); hashed when set.
    source: Mapped[str | None] = mapped_column(String(64))


class AuditHead(Base):
    """The last event's seq and hash, keyed; appends lock this single row."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    mac: Mapped[str] = mapped_column(String(HASH_LENGTH))


class AuditCheckpoint(Base):
    """A signed statement "event ``seq`` has hash ``hash``", made at ``at``."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    signature: Mapped[str] = mapped_column(String(128))
    # ``ed25519:<hex>`` of the signing key; NULL: signed by the chain seed's key (before
    # the checkpoint key was split from it).
    public_key: Mapped[str | None] = mapped_column(String(72))
