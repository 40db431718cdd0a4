"""Login sessions: opaque random tokens, stored as SHA-256 digests.

A session ends after ``idle`` without use, after ``lifetime`` whatever happens, or at
logout. Each session also has a CSRF token (for cookie-borne requests), kept hashed.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from staff import credentials
from storage.db import Database
from storage.models import Practitioner, StaffPractice, StaffRole, StaffSession, StaffUser, utcnow

TOUCH_EVERY = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the staff user behind a live session and what they may see."""

    session_id: int
    user_id: int
    login: str
    role: StaffRole
    practice_ids: frozenset[int]
    practitioner_id: int | None
    shared_box: bool
    must_change_password: bool
    csrf_hash: str

    @property
    def actor(self) -> str:
        return f"staff:{self.login}"

    def csrf_matches(self, token: str) -> bool:
        return hmac.compare_digest(self.csrf_hash, credentials.token_digest(token))


@dataclass(frozen=True, slots=True)
class OpenedSession:
    token: str
    csrf_token: str
    expires_at: datetime
    idle_expires_at: datetime


class Sessions:
    def __init__(self, db: Database, idle: timedelta, lifetime: timedelta) -> None:
        self.db = db
        self.idle = idle
        self.lifetime = lifetime

    def open(self, user_id: int, now: datetime | None = None) -> OpenedSession:
        now = now or utcnow()
        token, csrf = credentials.new_token(), credentials.new_token()
        expires = now + self.lifetime
        with self.db.session() as session:
            session.add(StaffSession(
                token_hash=credentials.token_digest(token),
                csrf_hash=credentials.token_digest(csrf),
                user_id=user_id, created_at=now, last_seen_at=now, expires_at=expires,
            ))
        return OpenedSession(token, csrf, expires, min(expires, now + self.idle))

    def resolve(self, token: str, now: datetime | None = None) -> Principal | None:
        """The principal of a live session (and note its use), or None."""
        now = now or utcnow()
        digest = credentials.token_digest(token)
        with self.db.read_session() as session:
            row = session.scalar(select(StaffSession).where(StaffSession.token_hash == digest))
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                return None
            if now - row.last_seen_at > self.idle:
                return None
            user = session.get(StaffUser, row.user_id)
            if user is None or user.disabled_at is not None:
                return None
            practices = frozenset(session.scalars(
                select(StaffPractice.practice_id).where(StaffPractice.user_id == user.id)
            ))
            if user.role is StaffRole.DOCTOR and user.practitioner_id is not None:
                person = session.get(Practitioner, user.practitioner_id)
                if person is not None:
                    practices = practices | {person.practice_id}
            principal = Principal(
                session_id=row.id, user_id=user.id, login=user.login,
                role=StaffRole(user.role), practice_ids=practices,
                practitioner_id=user.practitioner_id, shared_box=user.shared_box,
                must_change_password=user.must_change_password, csrf_hash=row.csrf_hash,
            )
            stale = now - row.last_seen_at >= TOUCH_EVERY
        if stale:
            with self.db.session() as session:
                session.execute(update(StaffSession).where(StaffSession.id == principal.session_id)
                                .values(last_seen_at=now))
        return principal

    def revoke(self, session_id: int, now: datetime | None = None) -> None:
        with self.db.session() as session:
            session.execute(
                update(StaffSession)
                .where(StaffSession.id == session_id, StaffSession.revoked_at.is_(None))
                .values(revoked_at=now or utcnow())
            )
