"""Staff accounts: creation with MFA enrolment, access changes, disabling, self-service.

Used by the API and by ``telesec users``; no web framework here. Every change is
audited with the acting person or command as actor. Logging in is :mod:`staff.login`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from scheduling import lookup
from staff import credentials
from staff.enrolment import Enrolment
from staff.errors import AccountError, PasswordRefused, UnknownAccount
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
    sip_phone: bool = False


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
        last_login_at=user.last_login_at, sip_phone=user.sip_ha1_sealed is not None,
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
        password = credentials.one_time_password()
        secret = credentials.new_totp_secret()
        codes = credentials.new_recovery_codes()
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
            sealed, kek_id = credentials.seal_totp(self.keyring, login, secret)
            user = StaffUser(
                login=login, role=role, practitioner_id=practitioner_id,
                shared_box=shared_box and role is StaffRole.DOCTOR,
                password_hash=credentials.hash_password(password), must_change_password=True,
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
        return Enrolment(login, password, secret, credentials.enrolment_uri(secret, login), codes)

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
        secret = credentials.new_totp_secret()
        codes = credentials.new_recovery_codes()
        with self.db.session() as session:
            user = _user(session, login)
            user.totp_sealed, user.totp_kek_id = credentials.seal_totp(self.keyring, login, secret)
            user.totp_last_step = 0
            user.failed_logins, user.locked_until = 0, None
            session.execute(
                delete(StaffRecoveryCode).where(StaffRecoveryCode.user_id == user.id)
            )
            _store_codes(session, user.id, codes)
            _revoke_sessions(session, user.id)
            audit.record(session, actor=actor, action="staff.reset_mfa",
                         object_type="staff_user", object_id=login, purpose="MFA reset")
        return Enrolment(login, None, secret, credentials.enrolment_uri(secret, login), codes)

    def list(self) -> list[StaffView]:
        with self.db.read_session() as session:
            users = session.scalars(select(StaffUser).order_by(StaffUser.login))
            return [staff_view(session, u) for u in users]

    def get(self, login: str) -> StaffView:
        with self.db.read_session() as session:
            return staff_view(session, _user(session, login))

    # ---- the user themself ------------------------------------------------------------
    def change_password(self, user_id: int, current: str, new: str) -> None:
        """Replace the user's password; refused (``PasswordRefused``) if ``current`` is wrong
        or ``new`` is weak or the same."""
        problem = credentials.password_problem(new)
        if problem:
            raise PasswordRefused(problem)
        with self.db.session() as session:
            user = session.get(StaffUser, user_id)
            if user is None:
                raise UnknownAccount(f"no user {user_id}")
            if not credentials.verify_password(user.password_hash, current):
                raise PasswordRefused("the current password is wrong")
            if current == new:
                raise PasswordRefused("choose a password different from the current one")
            user.password_hash = credentials.hash_password(new)
            user.must_change_password = False
            audit.record(session, actor=f"staff:{user.login}", action="staff.password_change",
                         object_type="staff_user", object_id=user.login,
                         purpose="password changed")

    def new_recovery_codes(self, user_id: int) -> list[str]:
        """Replace the user's recovery codes (the old ones stop working)."""
        codes = credentials.new_recovery_codes()
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
        StaffRecoveryCode(user_id=user_id, code_hash=credentials.token_digest(c)) for c in codes
    )


def _revoke_sessions(session: Session, user_id: int) -> None:
    session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
