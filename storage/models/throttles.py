"""Request limits of the staff API, shared by every API node of one database.

``rate_buckets``: token buckets by key (``ip:<address>``, ``login:<digest>``).
``login_throttles``: failed logins by login and client address, with the time before
which that pair may not try again. Read and write them through :mod:`storage.throttles`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime


class RateBucket(Base):
    __tablename__ = "rate_buckets"
    __table_args__ = (Index("ix_rate_buckets_seen_at", "seen_at"),)

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    __tablename__ = "login_throttles"
    __table_args__ = (Index("ix_login_throttles_last_failure_at", "last_failure_at"),)

    key: Mapped[str] = mapped_column(String(96), primary_key=True)  # digest of login + address
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
