"""Login with password + TOTP, recovery codes, lockout, sessions, CSRF, rate limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.ratelimit import AuthLimits, BucketRule
from storage.db import Database
from storage.keyring import Keyring
from storage.models import AuditEvent, StaffSession
from tests.api.conftest import ApiWorld, build_world
from tests.qr_codes import decode_svg_data_uri


def test_first_login_needs_totp_then_a_password_change(world: ApiWorld) -> None:
    enrolment = world.add_user("sam", "secretary", practices=["demo"])
    assert enrolment.otpauth_uri.startswith("otpauth://totp/Telesec:sam?")
    assert len(enrolment.recovery_codes) == 10
    no_code = world.client.post("/auth/login", json={"login": "sam",
                                                     "password": enrolment.password})
    assert no_code.status_code == 422 and no_code.json()["code"] == "invalid_request"
    wrong = world.client.post("/auth/login", json={
        "login": "sam", "password": enrolment.password, "totp_code": "000000"})
    assert wrong.status_code == 401
    assert wrong.json() == {"code": "login_failed", "message": wrong.json()["message"]}

    session = world.login("sam")
    assert session["must_change_password"] is True and session["role"] == "secretary"
    bearer = {"Authorization": f"Bearer {session['token']}"}
    blocked = world.client.get("/practices", headers=bearer)
    assert blocked.status_code == 403 and blocked.json()["code"] == "password_change_required"
    weak = world.client.post("/auth/password", headers=bearer, json={
        "current_password": enrolment.password, "new_password": "short"})
    assert weak.status_code == 400
    changed = world.client.post("/auth/password", headers=bearer, json={
        "current_password": enrolment.password, "new_password": "correct horse battery"})
    assert changed.status_code == 200
    assert [p["slug"] for p in world.client.get("/practices", headers=bearer).json()] == ["demo"]
    me = world.client.get("/auth/me", headers=bearer).json()
    assert me["login"] == "sam" and me["practice_ids"] == [world.demo_id]


def test_a_totp_code_is_accepted_once(world: ApiWorld) -> None:
    enrolment = world.add_user("sam", "secretary", practices=["demo"])
    code = pyotp.TOTP(enrolment.totp_secret).now()
    body = {"login": "sam", "password": enrolment.password, "totp_code": code}
    assert world.client.post("/auth/login", json=body).status_code == 200
    assert world.client.post("/auth/login", json=body).status_code == 401  # replayed


def test_recovery_codes_work_once(world: ApiWorld) -> None:
    enrolment = world.add_user("sam", "secretary", practices=["demo"])
    body = {"login": "sam", "password": enrolment.password,
            "recovery_code": enrolment.recovery_codes[0].upper()}
    assert world.client.post("/auth/login", json=body).status_code == 200
    assert world.client.post("/auth/login", json=body).status_code == 401
    session = world.login("sam")
    me = world.client.get("/auth/me", headers={"Authorization": f"Bearer {session['token']}"})
    assert me.json()["recovery_codes_left"] == 9


def test_failures_block_the_login_from_that_address_only(
    sqlite_db: Database, installed_keyring: Keyring, tmp_path: Path,
) -> None:
    world = build_world(sqlite_db, installed_keyring, tmp_path, AuthLimits(
        per_ip=BucketRule(1000, 0.01), per_login=BucketRule(1000, 0.01),
        failure_delay_seconds=0.0))
    enrolment = world.add_user("sam", "secretary", practices=["demo"])
    stranger = TestClient(world.app, client=("192.0.2.1", 40000))
    owner = TestClient(world.app, client=("198.51.100.7", 40000))
    for _ in range(5):
        answer = stranger.post("/auth/login", json={
            "login": "sam", "password": "not the password", "totp_code": "123456"})
        assert answer.status_code == 401
    code = pyotp.TOTP(enrolment.totp_secret).now()
    right = {"login": "sam", "password": enrolment.password, "totp_code": code}
    blocked = stranger.post("/auth/login", json=right)  # the right password, from there
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert world.accounts.get("sam").locked_until is None  # the account is not locked
    assert owner.post("/auth/login", json=right).status_code == 200  # its owner gets in
    with world.db.read_session() as session:
        events = session.execute(select(AuditEvent.action, AuditEvent.source).where(
            AuditEvent.object_id == "sam").order_by(AuditEvent.seq)).all()
    assert events[-7:] == [*[("staff.login_failed", "192.0.2.1")] * 5,
                           ("staff.login_limited", "192.0.2.1"),
                           ("staff.login", "198.51.100.7")]


def test_unknown_logins_and_429s_are_audited_with_their_source(
    sqlite_db: Database, installed_keyring: Keyring, tmp_path: Path,
) -> None:
    world = build_world(sqlite_db, installed_keyring, tmp_path, AuthLimits(
        per_ip=BucketRule(2, 600), per_login=BucketRule(1000, 0.01), failure_delay_seconds=0.0))
    client = TestClient(world.app, client=("203.0.113.9", 40000))
    for login in ("nobody", "My Secret Pass 1!", "nobody"):
        client.post("/auth/login", json={"login": login, "password": "x" * 12,
                                         "totp_code": "123456"})
    with world.db.read_session() as session:
        events = session.execute(select(
            AuditEvent.actor, AuditEvent.action, AuditEvent.object_id, AuditEvent.source,
        ).where(AuditEvent.action.like("staff.login%")).order_by(AuditEvent.seq)).all()
    assert events == [
        ("staff:nobody", "staff.login_failed", "nobody", "203.0.113.9"),
        ("staff:?", "staff.login_failed", None, "203.0.113.9"),  # not what was typed
        ("staff:nobody", "staff.login_limited", "nobody", "203.0.113.9"),
    ]


def test_unknown_and_known_logins_fail_alike(
    sqlite_db: Database, installed_keyring: Keyring, tmp_path: Path,
) -> None:
    """Same slowdown for both (it follows the failures of the login and address, whether
    the login exists or not); generous bounds for a loaded machine."""
    world = build_world(sqlite_db, installed_keyring, tmp_path, AuthLimits(
        per_ip=BucketRule(100, 0.01), per_login=BucketRule(100, 0.01),
        failure_delay_seconds=0.5))
    world.add_user("sam", "secretary", practices=["demo"])
    took = {}
    for login in ("sam", "samuel"):
        for _ in range(3):
            started = time.monotonic()
            world.client.post("/auth/login", json={"login": login, "password": "wrong one",
                                                   "totp_code": "123456"})
            took[login] = time.monotonic() - started
    assert took["samuel"] >= 1.5 and took["sam"] >= 1.5, took
    assert abs(took["sam"] - took["samuel"]) < 0.5, took


def test_a_common_password_is_refused(world: ApiWorld) -> None:
    enrolment = world.add_user("sam", "secretary", practices=["demo"])
    bearer = {"Authorization": f"Bearer {world.login('sam')['token']}"}
    for common in ("password1234", "qwertyuiop123"):
        refused = world.client.post("/auth/password", headers=bearer, json={
            "current_password": enrolment.password, "new_password": common})
        assert refused.status_code == 400, common
        assert "common or breached" in refused.json()["message"]


def test_a_password_change_ends_the_other_sessions(world: ApiWorld) -> None:
    enrolment = world.add_user("sam", "secretary", practices=["demo"])
    world.ready("sam")
    elsewhere = world.headers("sam")  # e.g. a console left open on another computer
    here = {"Authorization": f"Bearer {world.login('sam')['token']}"}
    changed = world.client.post("/auth/password", headers=here, json={
        "current_password": enrolment.password, "new_password": "correct horse battery"})
    assert changed.status_code == 200
    assert world.client.get("/auth/me", headers=elsewhere).status_code == 401
    assert world.client.get("/auth/me", headers=here).status_code == 200


def test_failed_logins_are_slowed_down(sqlite_db, installed_keyring, tmp_path) -> None:  # type: ignore[no-untyped-def]
    limits = AuthLimits(per_ip=BucketRule(100, 0.01), per_login=BucketRule(100, 0.01),
                        failure_delay_seconds=0.2)
    world = build_world(sqlite_db, installed_keyring, tmp_path, limits)
    world.add_user("sam", "secretary", practices=["demo"])
    durations = []
    for _ in range(3):
        started = time.monotonic()
        world.client.post("/auth/login", json={"login": "sam", "password": "wrong password",
                                               "totp_code": "123456"})
        durations.append(time.monotonic() - started)
    assert durations[2] >= 0.6 and durations[2] > durations[0]


def test_login_attempts_are_rate_limited_per_login(sqlite_db, installed_keyring, tmp_path) -> None:  # type: ignore[no-untyped-def]
    limits = AuthLimits(per_ip=BucketRule(100, 60), per_login=BucketRule(3, 60),
                        failure_delay_seconds=0.0)
    world = build_world(sqlite_db, installed_keyring, tmp_path, limits)
    answers = [world.client.post("/auth/login", json={
        "login": "nobody", "password": "x", "totp_code": "123456"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert int(answers[3].headers["retry-after"]) >= 1
    assert answers[3].json()["code"] == "rate_limited"


def test_sessions_expire_when_idle_and_at_their_lifetime(world: ApiWorld) -> None:
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("sam")
    ctx = world.app.state.context
    token = world.token("sam")
    bearer = {"Authorization": f"Bearer {token}"}
    assert world.client.get("/auth/me", headers=bearer).status_code == 200
    now = datetime.now(UTC)
    ctx.clock = lambda: now + timedelta(minutes=14)
    assert world.client.get("/auth/me", headers=bearer).status_code == 200  # touched
    ctx.clock = lambda: now + timedelta(minutes=14 + 16)
    assert world.client.get("/auth/me", headers=bearer).status_code == 401  # idle
    ctx.clock = lambda: datetime.now(UTC)
    token = world.token("sam")
    bearer = {"Authorization": f"Bearer {token}"}
    step = datetime.now(UTC)
    for minutes in range(10, 12 * 60, 10):  # busy all day: the lifetime still ends it
        ctx.clock = lambda m=minutes: step + timedelta(minutes=m)
        assert world.client.get("/auth/me", headers=bearer).status_code == 200, minutes
    ctx.clock = lambda: step + timedelta(hours=12, minutes=1)
    assert world.client.get("/auth/me", headers=bearer).status_code == 401


def test_logout_revokes_and_tokens_are_stored_hashed(world: ApiWorld) -> None:
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("sam")
    session = world.login("sam")
    bearer = {"Authorization": f"Bearer {session['token']}"}
    with world.db.read_session() as db_session:
        stored = db_session.scalars(select(StaffSession.token_hash)).all()
    assert session["token"] not in stored and all(len(h) == 64 for h in stored)
    assert world.client.post("/auth/logout", headers=bearer).status_code == 200
    assert world.client.get("/auth/me", headers=bearer).status_code == 401


def test_cookie_sessions_need_the_csrf_header_for_changes(world: ApiWorld) -> None:
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("sam")
    session = world.login("sam")
    cookies = world.client.cookies
    assert cookies.get("telesec_session") == session["token"]
    assert world.client.get("/auth/me").status_code == 200  # safe method: cookie alone
    refused = world.client.post("/auth/recovery-codes")
    assert refused.status_code == 403 and refused.json()["code"] == "csrf"
    wrong = world.client.post("/auth/recovery-codes", headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    ok = world.client.post("/auth/recovery-codes",
                           headers={"X-CSRF-Token": cookies.get("telesec_csrf")})
    assert ok.status_code == 200 and len(ok.json()["recovery_codes"]) == 10


def test_disabling_and_resetting_mfa_end_sessions(world: ApiWorld) -> None:
    world.add_user("ada", "admin")
    world.ready("ada")
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("sam")
    admin = world.headers("ada")
    sam = world.headers("sam")
    reset = world.client.post("/users/sam/reset-mfa", headers=admin)
    assert reset.status_code == 200 and reset.json()["otpauth_uri"].startswith("otpauth://")
    # the QR code a phone scans holds that same URI
    assert decode_svg_data_uri(reset.json()["otpauth_qr"]) == reset.json()["otpauth_uri"]
    assert world.client.get("/auth/me", headers=sam).status_code == 401
    sam = world.headers("sam")
    assert world.client.post("/users/sam/disable", headers=admin).status_code == 200
    assert world.client.get("/auth/me", headers=sam).status_code == 401


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer " + "x" * 300])
def test_bad_authorization_headers_are_401(world: ApiWorld, header: str) -> None:
    answer = world.client.get("/auth/me", headers={"Authorization": header})
    assert answer.status_code == 401 and answer.json()["code"] == "unauthenticated"
