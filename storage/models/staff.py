"""Staff accounts: users, roles, practice assignments, MFA material and sessions.

Read and write them through :mod:`staff.accounts`, :mod:`staff.login` and
:mod:`api.services.sessions`.
Nothing here is a secret in clear: passwords are argon2id hashes, the TOTP secret is
sealed under a key derived from the keyring (``totp_sealed`` + ``totp_kek_id``),
recovery codes and session tokens are stored as SHA-256 digests only.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


class StaffRole(enum.StrEnum):
    ADMIN = "admin"
    SECRETARY = "secretary"
    DOCTOR = "doctor"


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[StaffRole] = mapped_column(
        Enum(StaffRole, native_enum=False, length=16,
             values_callable=lambda kinds: [k.value for k in kinds])
    )
    practitioner_id: Mapped[int | None] = mapped_column(
        ForeignKey("practitioners.id", ondelete="SET NULL")
    )
    shared_box: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    totp_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_kek_id: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the SIP phone's digest credentials: HA1 (MD5 of login:realm:password) sealed under a
    # key derived from the keyring, like the TOTP secret; the password itself is never kept
    sip_ha1_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    sip_kek_id: Mapped[str | None] = mapped_column(String(64))
    sip_realm: Mapped[str | None] = mapped_column(String(64))


class StaffPractice(Base):
    """A practice a secretary (or a doctor) is assigned to."""

    __tablename__ = "staff_practices"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    practice_id: Mapped[int] = mapped_column(
        ForeignKey("practices.id", ondelete="CASCADE"), primary_key=True
    )


class StaffRecoveryCode(Base):
    __tablename__ = "staff_recovery_codes"
    __table_args__ = (Index("ix_staff_recovery_codes_user", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffSession(Base):
    """A login session: the opaque token and its CSRF token are kept as SHA-256 digests."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_user", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
