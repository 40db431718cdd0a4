"""Logging in: password and second factor, every attempt audited with its source.

Failures do not lock the account (anyone could then lock anyone out): the API slows
down and then blocks the *pair* of login and client address that keeps failing
(:mod:`api.ratelimit`), with a delay that grows. An account is blocked only when an
admin disables it (``locked_until`` set by older versions is still honoured).

Every attempt is audited, on known and unknown logins alike (``staff.login``,
``staff.login_failed``), with the client address as ``source``; so are refusals by the
limits (:meth:`Authenticator.limited`). An unknown login costs what a known one does:
a password verification against a dummy hash and one audited write. The answer to a
failure is deliberately vague (:class:`LoginFailed`) and, in the API, slowed down
(:func:`slowdown_seconds`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from staff import credentials
from staff.accounts import LOGIN_PATTERN, StaffView, staff_view
from staff.errors import LoginFailed
from storage import audit
from storage.db import Database
from storage.keyring import Keyring
from storage.models import StaffRecoveryCode, StaffUser, utcnow


def audited_login(login: str) -> str | None:
    """The login as written in the audit trail: only what looks like a login (a password
    typed in the login field must not land there)."""
    return login if LOGIN_PATTERN.match(login) else None


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
        source: str | None = None,
    ) -> StaffView:
        """Check password and second factor; every attempt is audited with ``source``."""
        now = now or utcnow()
        with self.db.read_session() as session:
            user = session.scalar(select(StaffUser).where(StaffUser.login == login))
        if user is None:
            credentials.burn_password_time(password)
            with self.db.session() as session:
                self._audit(session, login, "staff.login_failed", now, source,
                            {"known": False})
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
                    user.failed_logins += 1  # shown to admins; locks nothing
                failures = user.failed_logins
                self._audit(session, login, "staff.login_failed", now, source,
                            {"failures": failures, "blocked": blocked})
            else:
                user.failed_logins, user.locked_until = 0, None
                user.last_login_at = now
                self._audit(session, login, "staff.login", now, source,
                            {"recovery_code": recovery_code is not None})
                return staff_view(session, user, now)
        raise LoginFailed(failures)

    def limited(self, login: str, *, reason: str, source: str | None,
                now: datetime | None = None) -> None:
        """Audit an attempt refused by a limit before any check (a 429 in the API)."""
        with self.db.session() as session:
            self._audit(session, login, "staff.login_limited", now or utcnow(), source,
                        {"limit": reason})

    @staticmethod
    def _audit(session: Session, login: str, action: str, now: datetime,
               source: str | None, detail: dict[str, object]) -> None:
        shown = audited_login(login)
        audit.record(session, actor=f"staff:{shown or '?'}", action=action,
                     object_type="staff_user", object_id=shown, purpose="authentication",
                     at=now, detail=detail, source=source[:64] if source else None)

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


def slowdown_seconds(failures: int, base: float) -> float:
    """How long to wait before answering a failed login (grows with the failures)."""
    return min(base * failures, 5.0) if failures else base
