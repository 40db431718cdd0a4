"""Staff accounts: creation, MFA enrolment, login checks with lockout, administration.

Used by the API and by ``telesec users``; no web framework here. Every change is
audited with the acting person or command as actor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from api import security
from scheduling import lookup
from storage import audit
from storage.db import Database
from storage.keyring import Keyring
from storage.models import (
    StaffPractice,
    StaffRecoveryCode,
    StaffRole,
    StaffSession,
    StaffUser,
    utcnow,
)

LOGIN_PATTERN = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
LOCK_AFTER = 5
LOCK_MINUTES = 15
MAX_LOCK = timedelta(hours=24)


class AccountError(Exception):
    """A request about an account that cannot be done; the message says why."""


class UnknownAccount(AccountError):
    """No staff user with that login or id."""


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What a new (or reset) user needs once: shown to them, never stored in clear."""

    login: str
    password: str | None
    totp_secret: str
    otpauth_uri: str
    recovery_codes: list[str]


@dataclass(frozen=True, slots=True)
class StaffView:
    id: int
    login: str
    role: str
    practice_ids: list[int]
    practitioner_id: int | None
    shared_box: bool
    disabled: bool
    locked_until: datetime | None
    mfa_enrolled: bool
    must_change_password: bool
    created_at: datetime
    last_login_at: datetime | None


class LoginFailed(Exception):
    """Wrong login, password or code, disabled or locked account: deliberately vague."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__("login failed")
        self.failures = failures


def staff_view(session: Session, user: StaffUser, now: datetime | None = None) -> StaffView:
    now = now or utcnow()
    practices = sorted(session.scalars(
        select(StaffPractice.practice_id).where(StaffPractice.user_id == user.id)
    ))
    locked = user.locked_until if user.locked_until and user.locked_until > now else None
    return StaffView(
        id=user.id, login=user.login, role=StaffRole(user.role).value, practice_ids=practices,
        practitioner_id=user.practitioner_id, shared_box=user.shared_box,
        disabled=user.disabled_at is not None, locked_until=locked,
        mfa_enrolled=user.totp_sealed is not None,
        must_change_password=user.must_change_password, created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


class Accounts:
    """Staff accounts over one database and keyring."""

    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self.keyring = keyring

    # ---- administration -------------------------------------------------------------
    def add(
        self,
        login: str,
        role: StaffRole | str,
        *,
        actor: str,
        practices: list[str | int] | None = None,
        practitioner: str | int | None = None,
        shared_box: bool = False,
    ) -> Enrolment:
        """Create a user with a one-time password, a TOTP secret and recovery codes."""
        role = _role(role)
        if not LOGIN_PATTERN.match(login):
            raise AccountError(
                f"login {login!r}: use 2-64 lowercase letters, digits, '.', '_' or '-'"
            )
        password = security.one_time_password()
        secret = security.new_totp_secret()
        codes = security.new_recovery_codes()
        with self.db.session() as session:
            if session.scalar(select(StaffUser.id).where(StaffUser.login == login)):
                raise AccountError(f"a user {login!r} already exists")
            practice_ids = [lookup.practice(session, p).id for p in practices or []]
            practitioner_id = None
            if role is StaffRole.DOCTOR:
                if practitioner is None or len(practice_ids) != 1:
                    raise AccountError(
                        "a doctor needs --practice SLUG and --practitioner SLUG (their agenda)"
                    )
                practitioner_id = lookup.practitioner(session, practice_ids[0], practitioner).id
            elif practitioner is not None:
                raise AccountError("only a doctor is linked to a practitioner")
            if role is StaffRole.SECRETARY and not practice_ids:
                raise AccountError("a secretary needs at least one --practice")
            sealed, kek_id = security.seal_totp(self.keyring, login, secret)
            user = StaffUser(
                login=login, role=role, practitioner_id=practitioner_id,
                shared_box=shared_box and role is StaffRole.DOCTOR,
                password_hash=security.hash_password(password), must_change_password=True,
                totp_sealed=sealed, totp_kek_id=kek_id, totp_last_step=0, failed_logins=0,
                created_at=utcnow(),
            )
            session.add(user)
            session.flush()
            session.add_all(StaffPractice(user_id=user.id, practice_id=p) for p in practice_ids)
            _store_codes(session, user.id, codes)
            audit.record(session, actor=actor, action="staff.create", object_type="staff_user",
                         object_id=login, purpose="staff account created",
                         detail={"role": role.value, "practices": practice_ids})
        return Enrolment(login, password, secret, security.enrolment_uri(secret, login), codes)

    def update(
        self,
        login: str,
        *,
        actor: str,
        practices: list[int] | None = None,
        shared_box: bool | None = None,
    ) -> StaffView:
        """Change a user's practice assignments or shared-box grant."""
        with self.db.session() as session:
            user = _user(session, login)
            if practices is not None:
                for practice_id in practices:
                    lookup.practice(session, practice_id)
                session.execute(delete(StaffPractice).where(StaffPractice.user_id == user.id))
                session.add_all(
                    StaffPractice(user_id=user.id, practice_id=p) for p in sorted(set(practices))
                )
            if shared_box is not None:
                if shared_box and user.role is not StaffRole.DOCTOR:
                    raise AccountError("only a doctor is granted a practice's shared box")
                user.shared_box = shared_box
            session.flush()
            audit.record(session, actor=actor, action="staff.update", object_type="staff_user",
                         object_id=login, purpose="staff access changed",
                         detail={"practices": practices, "shared_box": shared_box})
            return staff_view(session, user)

    def disable(self, login: str, *, actor: str) -> None:
        """Disable an account and end its sessions."""
        with self.db.session() as session:
            user = _user(session, login)
            user.disabled_at = user.disabled_at or utcnow()
            _revoke_sessions(session, user.id)
            audit.record(session, actor=actor, action="staff.disable", object_type="staff_user",
                         object_id=login, purpose="staff account disabled")

    def enable(self, login: str, *, actor: str) -> None:
        with self.db.session() as session:
            user = _user(session, login)
            user.disabled_at = None
            user.failed_logins, user.locked_until = 0, None
            audit.record(session, actor=actor, action="staff.enable", object_type="staff_user",
                         object_id=login, purpose="staff account enabled")

    def reset_mfa(self, login: str, *, actor: str) -> Enrolment:
        """New TOTP secret and recovery codes; every session of the user ends."""
        secret = security.new_totp_secret()
        codes = security.new_recovery_codes()
        with self.db.session() as session:
            user = _user(session, login)
            user.totp_sealed, user.totp_kek_id = security.seal_totp(self.keyring, login, secret)
            user.totp_last_step = 0
            user.failed_logins, user.locked_until = 0, None
            session.execute(
                delete(StaffRecoveryCode).where(StaffRecoveryCode.user_id == user.id)
            )
            _store_codes(session, user.id, codes)
            _revoke_sessions(session, user.id)
            audit.record(session, actor=actor, action="staff.reset_mfa",
                         object_type="staff_user", object_id=login, purpose="MFA reset")
        return Enrolment(login, None, secret, security.enrolment_uri(secret, login), codes)

    def list(self) -> list[StaffView]:
        with self.db.read_session() as session:
            users = session.scalars(select(StaffUser).order_by(StaffUser.login))
            return [staff_view(session, u) for u in users]

    def get(self, login: str) -> StaffView:
        with self.db.read_session() as session:
            return staff_view(session, _user(session, login))

    # ---- the user themself ------------------------------------------------------------
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
            security.burn_password_time(password)
            raise LoginFailed()
        password_ok = security.verify_password(user.password_hash, password)
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
            secret = security.open_totp(self.keyring, user.login, user.totp_sealed,
                                        user.totp_kek_id or "")
            step = security.totp_step(secret, totp_code, user.totp_last_step, now.timestamp())
            if step is None:
                return False
            user.totp_last_step = step
            return True
        if recovery_code:
            digest = security.token_digest(security.normalise_recovery_code(recovery_code))
            used = session.execute(
                update(StaffRecoveryCode)
                .where(StaffRecoveryCode.user_id == user.id,
                       StaffRecoveryCode.code_hash == digest,
                       StaffRecoveryCode.used_at.is_(None))
                .values(used_at=now)
            ).rowcount
            return bool(used)
        return False

    def change_password(self, user_id: int, current: str, new: str) -> None:
        problem = security.password_problem(new)
        if problem:
            raise AccountError(problem)
        with self.db.session() as session:
            user = session.get(StaffUser, user_id)
            if user is None:
                raise UnknownAccount(f"no user {user_id}")
            if not security.verify_password(user.password_hash, current):
                raise AccountError("the current password is wrong")
            if current == new:
                raise AccountError("choose a password different from the current one")
            user.password_hash = security.hash_password(new)
            user.must_change_password = False
            audit.record(session, actor=f"staff:{user.login}", action="staff.password_change",
                         object_type="staff_user", object_id=user.login,
                         purpose="password changed")

    def new_recovery_codes(self, user_id: int) -> list[str]:
        """Replace the user's recovery codes (the old ones stop working)."""
        codes = security.new_recovery_codes()
        with self.db.session() as session:
            user = session.get(StaffUser, user_id)
            if user is None:
                raise UnknownAccount(f"no user {user_id}")
            session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.user_id == user_id))
            _store_codes(session, user_id, codes)
            audit.record(session, actor=f"staff:{user.login}",
                         action="staff.recovery_codes_renew", object_type="staff_user",
                         object_id=user.login, purpose="recovery codes renewed")
        return codes

    def remaining_recovery_codes(self, user_id: int) -> int:
        with self.db.read_session() as session:
            return len(session.scalars(
                select(StaffRecoveryCode.id).where(StaffRecoveryCode.user_id == user_id,
                                                   StaffRecoveryCode.used_at.is_(None))
            ).all())


def _role(role: StaffRole | str) -> StaffRole:
    try:
        return StaffRole(role)
    except ValueError:
        raise AccountError(f"role {role!r}: use admin, secretary or doctor") from None


def _user(session: Session, login: str) -> StaffUser:
    user = session.scalar(select(StaffUser).where(StaffUser.login == login))
    if user is None:
        raise UnknownAccount(f"no user {login!r}; see `telesec users list`")
    return user


def _store_codes(session: Session, user_id: int, codes: list[str]) -> None:
    session.add_all(
        StaffRecoveryCode(user_id=user_id, code_hash=security.token_digest(c)) for c in codes
    )


def _revoke_sessions(session: Session, user_id: int) -> None:
    session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def _count_failure(user: StaffUser, now: datetime) -> None:
    user.failed_logins += 1
    if user.failed_logins >= LOCK_AFTER:
        doublings = min(user.failed_logins - LOCK_AFTER, 10)
        user.locked_until = now + min(timedelta(minutes=LOCK_MINUTES * 2**doublings), MAX_LOCK)


def slowdown_seconds(failures: int, base: float) -> float:
    """How long to wait before answering a failed login (grows with the failures)."""
    return min(base * failures, 5.0) if failures else base
