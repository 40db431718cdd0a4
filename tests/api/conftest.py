"""Fixtures of the staff API tests: a seeded database, a vault, the app, staff users."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.app import create_app
from api.ratelimit import AuthLimits, BucketRule, ThrottleRule
from foundation.settings import Settings
from scheduling import practices
from scheduling.demo import seed_demo
from staff.accounts import Accounts
from staff.enrolment import Enrolment
from storage.db import Database
from storage.keyring import Keyring
from storage.models import StaffUser
from storage.vault import Vault

GENEROUS = AuthLimits(per_ip=BucketRule(1000, 0.01), per_login=BucketRule(1000, 0.01),
                      failure_delay_seconds=0.0, throttle=ThrottleRule(free_failures=1000))


@dataclass
class ApiWorld:
    app: FastAPI
    client: TestClient
    db: Database
    vault: Vault
    keyring: Keyring
    accounts: Accounts
    demo_id: int
    other_id: int
    users: dict[str, Enrolment] = field(default_factory=dict)

    def add_user(self, login: str, role: str, **kwargs: object) -> Enrolment:
        enrolment = self.accounts.add(login, role, actor="cli:test", **kwargs)  # type: ignore[arg-type]
        self.users[login] = enrolment
        return enrolment

    def ready(self, login: str) -> None:
        """Skip the first-login password change (for tests about something else)."""
        with self.db.session() as session:
            session.execute(update(StaffUser).where(StaffUser.login == login)
                            .values(must_change_password=False))

    def token(self, login: str) -> str:
        """A session token for ``login``, opened directly (no password hashing cost)."""
        with self.db.read_session() as session:
            user_id = session.scalar(select(StaffUser.id).where(StaffUser.login == login))
        assert user_id is not None
        return self.app.state.context.sessions.open(user_id).token

    def headers(self, login: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(login)}"}

    def login(self, login: str, password: str | None = None) -> dict[str, object]:
        """Log in through the API with password and a fresh TOTP code."""
        enrolment = self.users[login]
        code = pyotp.TOTP(enrolment.totp_secret).now()
        answer = self.client.post("/auth/login", json={
            "login": login, "password": password or enrolment.password, "totp_code": code})
        assert answer.status_code == 200, answer.text
        return answer.json()


def build_world(db: Database, keyring: Keyring, tmp_path: Path,
                limits: AuthLimits = GENEROUS, settings: Settings | None = None) -> ApiWorld:
    report = seed_demo(db)
    with db.session() as session:
        other = practices.create_practice(session, slug="other", name="Cabinet Autre",
                                          actor="cli:test")
        person = practices.add_practitioner(session, other.id, "dr-autre", "Docteur Autre",
                                            actor="cli:test")
        practices.add_visit_type(session, other.id, "consultation", label="Consultation",
                                 duration_minutes=20, actor="cli:test")
        practices.set_weekly_opening(session, person.id,
                                     [(d, time(8, 0), time(18, 0)) for d in range(6)],
                                     actor="cli:test")
        other_id = other.id
    settings = settings or Settings(data_dir=tmp_path / "data")
    vault = Vault(db, keyring, tmp_path / "vault")
    app = create_app(settings, db=db, keyring=keyring, vault=vault, limits=limits,
                     feed_interval=0.2)
    client = TestClient(app)
    return ApiWorld(app, client, db, vault, keyring, Accounts(db, keyring), report.practice_id,
                    other_id)


@pytest.fixture
def world(db: Database, installed_keyring: Keyring, tmp_path: Path) -> Iterator[ApiWorld]:
    """The API over the demo practice and a second practice, on SQLite and PostgreSQL."""
    found = build_world(db, installed_keyring, tmp_path)
    yield found
    found.client.close()
    found.app.state.context.feed.close()


@pytest.fixture
def sqlite_world(sqlite_db: Database, installed_keyring: Keyring,
                 tmp_path: Path) -> Iterator[ApiWorld]:
    found = build_world(sqlite_db, installed_keyring, tmp_path)
    yield found
    found.client.close()
    found.app.state.context.feed.close()
