"""The softphone's TURN credentials: coturn's use-auth-secret scheme, as long-lived as the
SIP token, under a private secret; none when TURN is off."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path

from foundation.settings import Settings
from storage.db import Database
from storage.keyring import Keyring
from telephony.turn_relay import TurnLayout, render_config

from .conftest import build_world


def test_the_page_gets_turn_credentials_coturn_can_check(
        sqlite_db: Database, installed_keyring: Keyring, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", sip={"webphone": {
        "enabled": True, "token_ttl_s": 600,
        "turn": {"enabled": True, "port": 13478, "transports": ["tcp"], "relay_only": True}}})
    world = build_world(sqlite_db, installed_keyring, tmp_path, settings=settings)
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("sam")
    grant = world.client.post("/softphone/token", headers=world.headers("sam")).json()
    [server] = grant["ice_servers"]
    assert server["urls"] == ["turn:127.0.0.1:13478?transport=tcp"]
    assert grant["ice_transport_policy"] == "relay"
    expiry, _, login = server["username"].partition(":")
    assert login == "sam" and 590 <= int(expiry) - time.time() <= 610
    secret_file = tmp_path / "data" / "turn.secret"
    assert secret_file.stat().st_mode & 0o077 == 0
    secret = secret_file.read_text().strip()
    expected = base64.b64encode(hmac.new(secret.encode(), server["username"].encode(),
                                         hashlib.sha1).digest()).decode()
    assert server["credential"] == expected
    # coturn checks them with the same secret, and relays to the front's media only
    config = render_config(TurnLayout("127.0.0.1", 13478, 40000, 40100, ("127.0.0.1",),
                                      tmp_path), secret)
    assert f"static-auth-secret={secret}" in config and "use-auth-secret" in config
    assert "denied-peer-ip=0.0.0.0-255.255.255.255" in config
    assert "allowed-peer-ip=127.0.0.1" in config and "allow-loopback-peers" not in config


def test_no_turn_server_when_it_is_off(
        sqlite_db: Database, installed_keyring: Keyring, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", sip={"webphone": {"enabled": True}})
    world = build_world(sqlite_db, installed_keyring, tmp_path, settings=settings)
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("sam")
    grant = world.client.post("/softphone/token", headers=world.headers("sam")).json()
    assert (grant["ice_servers"], grant["ice_transport_policy"]) == ([], "all")
    assert not (tmp_path / "data" / "turn.secret").exists()
