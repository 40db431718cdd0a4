"""Caller numbers that keep failing identity checks, shared by every worker of the pool.

A number appears only as a keyed hash (:func:`storage.lockouts.number_hash`), never in
clear. Read and write it through :mod:`storage.lockouts`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class IdentityLockout(Base):
    __tablename__ = "identity_lockouts"
    __table_args__ = (Index("ix_identity_lockouts_window_start", "window_start"),)

    number_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # failed tries in the window
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first of them
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
