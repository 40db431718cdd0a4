"""Logging in: password and second factor, with failures counted and accounts locked.

After :data:`LOCK_AFTER` failures in a row an account is locked for
:data:`LOCK_MINUTES`, doubling with each further failure up to :data:`MAX_LOCK`; a
success (or an admin enabling the account) resets the count. Every attempt on a known
login is audited (``staff.login`` or ``staff.login_failed``). The answer to a failure
is deliberately vague (:class:`LoginFailed`) and, in the API, slowed down
(:func:`slowdown_seconds`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from staff import credentials
from staff.accounts import StaffView, staff_view
from staff.errors import LoginFailed
from storage import audit
from storage.db import Database
from storage.keyring import Keyring
from storage.models import StaffRecoveryCode, StaffUser, utcnow

LOCK_AFTER = 5
LOCK_MINUTES = 15
MAX_LOCK = timedelta(hours=24)


class Authenticator:
    """Checks staff credentials over one database and keyring."""

    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self.keyring = keyring

    def authenticate(
        self,
        login: str,
        password: str,
        *,
        totp_code: str | None = None,
        recovery_code: str | None = None,
        now: datetime | None = None,
    ) -> StaffView:
        """Check password and second factor; count failures and lock after too many."""
        now = now or utcnow()
        with self.db.read_session() as session:
            user = session.scalar(select(StaffUser).where(StaffUser.login == login))
        if user is None:
            credentials.burn_password_time(password)
            raise LoginFailed()
        password_ok = credentials.verify_password(user.password_hash, password)
        with self.db.session() as session:
            user = session.scalar(
                select(StaffUser).where(StaffUser.id == user.id).with_for_update()
            )
            assert user is not None
            blocked = user.disabled_at is not None or (
                user.locked_until is not None and user.locked_until > now
            )
            ok = password_ok and not blocked and self._second_factor(
                session, user, totp_code, recovery_code, now
            )
            if not ok:
                if not blocked:
                    _count_failure(user, now)
                failures = user.failed_logins
                audit.record(session, actor=f"staff:{login}", action="staff.login_failed",
                             object_type="staff_user", object_id=login,
                             purpose="authentication", at=now,
                             detail={"failures": failures, "blocked": blocked})
            else:
                user.failed_logins, user.locked_until = 0, None
                user.last_login_at = now
                audit.record(session, actor=f"staff:{login}", action="staff.login",
                             object_type="staff_user", object_id=login,
                             purpose="authentication", at=now,
                             detail={"recovery_code": recovery_code is not None})
                return staff_view(session, user, now)
        raise LoginFailed(failures)

    def _second_factor(self, session: Session, user: StaffUser, totp_code: str | None,
                       recovery_code: str | None, now: datetime) -> bool:
        if totp_code and user.totp_sealed is not None:
            secret = credentials.open_totp(self.keyring, user.login, user.totp_sealed,
                                           user.totp_kek_id or "")
            step = credentials.totp_step(secret, totp_code, user.totp_last_step,
                                         now.timestamp())
            if step is None:
                return False
            user.totp_last_step = step
            return True
        if recovery_code:
            digest = credentials.token_digest(credentials.normalise_recovery_code(recovery_code))
            used = session.execute(
                update(StaffRecoveryCode)
                .where(StaffRecoveryCode.user_id == user.id,
                       StaffRecoveryCode.code_hash == digest,
                       StaffRecoveryCode.used_at.is_(None))
                .values(used_at=now)
            ).rowcount
            return bool(used)
        return False


def _count_failure(user: StaffUser, now: datetime) -> None:
    user.failed_logins += 1
    if user.failed_logins >= LOCK_AFTER:
        doublings = min(user.failed_logins - LOCK_AFTER, 10)
        user.locked_until = now + min(timedelta(minutes=LOCK_MINUTES * 2**doublings), MAX_LOCK)


def slowdown_seconds(failures: int, base: float) -> float:
    """How long to wait before answering a failed login (grows with the failures)."""
    return min(base * failures, 5.0) if failures else base
