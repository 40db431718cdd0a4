"""Login with password + TOTP, recovery codes, lockout, sessions, CSRF, rate limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from api.ratelimit import AuthLimits, BucketRule
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


def test_lockout_after_five_failures_even_with_the_right_code(world: ApiWorld) -> None:
    enrolment = world.add_user("sam", "secretary", practices=["demo"])
    for _ in range(5):
        answer = world.client.post("/auth/login", json={
            "login": "sam", "password": "not the password", "totp_code": "123456"})
        assert answer.status_code == 401
    code = pyotp.TOTP(enrolment.totp_secret).now()
    locked = world.client.post("/auth/login", json={
        "login": "sam", "password": enrolment.password, "totp_code": code})
    assert locked.status_code == 401
    assert world.accounts.get("sam").locked_until is not None
    world.accounts.enable("sam", actor="cli:test")  # an admin unlocks
    assert world.client.post("/auth/login", json={
        "login": "sam", "password": enrolment.password, "totp_code": code}).status_code == 200
    with world.db.read_session() as session:
        actions = session.scalars(select(AuditEvent.action).where(
            AuditEvent.object_id == "sam")).all()
    assert actions.count("staff.login_failed") == 6 and "staff.login" in actions


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
