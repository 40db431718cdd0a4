"""POST /softphone/token: short-lived SIP credentials for the secretary's practices' desks."""

from __future__ import annotations

import time
from pathlib import Path

from foundation.settings import Settings
from foundation.webphone_tokens import token_password
from storage.db import Database
from storage.keyring import Keyring

from .conftest import build_world


def _world(db: Database, keyring: Keyring, tmp_path: Path, **webphone: object):
    settings = Settings(data_dir=tmp_path / "data",
                        sip={"webphone": {"ws_port": 18066, **webphone}})
    return build_world(db, keyring, tmp_path, settings=settings)


def test_a_secretary_gets_tokens_for_her_practices_only(
        sqlite_db: Database, installed_keyring: Keyring, tmp_path: Path) -> None:
    world = _world(sqlite_db, installed_keyring, tmp_path, enabled=True, token_ttl_s=600)
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("sam")
    world.add_user("dr", "doctor", practices=["demo"], practitioner="dr-lambert")
    world.ready("dr")
    about = world.client.get("/softphone", headers=world.headers("sam"))
    assert about.json() == {"enabled": True}
    answer = world.client.post("/softphone/token", headers=world.headers("sam"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["url"] == "ws://127.0.0.1:18066" and body["realm"] == "telesec"
    [desk] = body["desks"]  # not the other practice's
    assert desk["practice"] == "demo" and desk["desk"] == "desk-demo"
    expiry, _, rest = desk["username"].partition(":")
    assert rest == "desk-demo/sam" and int(expiry) == desk["expires_at"]
    assert 590 <= desk["expires_at"] - time.time() <= 610
    secret_file = tmp_path / "data" / "webphone.secret"
    assert secret_file.stat().st_mode & 0o077 == 0
    assert desk["password"] == token_password(secret_file.read_text().strip(), desk["username"])
    assert world.client.post("/softphone/token", headers=world.headers("dr")).status_code == 403
    assert world.client.post("/softphone/token").status_code == 401
    page = world.client.get("/console/")
    assert "connect-src 'self' ws://127.0.0.1:18066" in page.headers["content-security-policy"]
    assert "microphone=(self)" in page.headers["permissions-policy"]


def test_no_token_when_the_softphone_is_off(
        sqlite_db: Database, installed_keyring: Keyring, tmp_path: Path) -> None:
    world = _world(sqlite_db, installed_keyring, tmp_path)
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("sam")
    assert world.client.get("/softphone", headers=world.headers("sam")).json() == {
        "enabled": False}
    assert world.client.post("/softphone/token", headers=world.headers("sam")).status_code == 404
    page = world.client.get("/console/")
    assert "microphone=()" in page.headers["permissions-policy"]
    assert "connect-src" not in page.headers["content-security-policy"]
