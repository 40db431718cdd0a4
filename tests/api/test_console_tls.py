"""HTTPS for the console and the softphone's WSS: the certificate pair is checked (one
line per problem) or, without one, made self-signed on first run; the softphone connects
to the page's own host name; uvicorn serves HTTPS with it as ``telesec serve`` does."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest

from foundation.certificates import console_certificate
from foundation.errors import TelesecError
from foundation.settings import Settings, SettingsError, load_settings
from storage.db import Database
from storage.keyring import Keyring
from telephony.edge import edge_from_settings
from telesec.commands.serve import api_server_config
from tests.api.conftest import build_world
from tests.ports import free_port
from tests.telephony.peers import self_signed_cert


def test_https_without_a_certificate_makes_a_self_signed_one_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(data_dir=tmp_path / "data", api={"https": True})
    with caplog.at_level(logging.WARNING, logger="foundation.certificates"):
        made = console_certificate(settings)
        again = console_certificate(settings)
    assert made is not None and made.self_signed and made == again
    assert made.private_key.stat().st_mode & 0o077 == 0
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "self-signed" in warnings[0], warnings  # one line, once
    assert "\n" not in warnings[0]
    # the front's WSS listener takes the same pair (Kamailio tls), on ws_port + 1
    sip = settings.sip.model_copy(update={"webphone": settings.sip.webphone.model_copy(
        update={"enabled": True})})
    phone = edge_from_settings(sip, webphone_secret="s", console_tls=made).webphone
    assert phone is not None and (phone.wss_port, phone.certificate) == (5067, made.certificate)
    assert console_certificate(Settings(data_dir=tmp_path / "plain")) is None  # plain HTTP


def test_a_wrong_certificate_pair_is_one_clear_line(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    (tmp_path / "other").mkdir()
    _, other_key = self_signed_cert(tmp_path / "other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")

    def problem(certificate: Path, private_key: Path) -> str:
        settings = Settings(data_dir=tmp_path / "data",
                            api={"certificate": certificate, "private_key": private_key})
        with pytest.raises(TelesecError) as raised:
            console_certificate(settings)
        message = str(raised.value)
        assert "\n" not in message
        return message

    assert "no such file" in problem(tmp_path / "missing.pem", key)
    assert "cannot read it" in problem(cert, tmp_path)  # a directory: unreadable as a file
    assert "is not a PEM certificate" in problem(garbage, key)
    assert "is not an unencrypted PEM private key" in problem(cert, garbage)
    assert "is not the key of" in problem(cert, other_key)
    key.chmod(0o644)
    assert "readable by everyone" in problem(cert, key)
    key.chmod(0o600)
    good = console_certificate(Settings(data_dir=tmp_path / "data",
                                        api={"certificate": cert, "private_key": key}))
    assert good is not None and not good.self_signed
    with pytest.raises(SettingsError, match="both certificate and private_key"):
        load_settings(data_dir=tmp_path, api={"certificate": cert})


def test_the_console_over_https_points_the_softphone_at_its_own_host(
        sqlite_db: Database, installed_keyring: Keyring, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", api={"https": True, "port": free_port()},
                        sip={"webphone": {"enabled": True}})
    world = build_world(sqlite_db, installed_keyring, tmp_path, settings=settings)
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("sam")
    host = {"host": "console.example.fr:8443"}
    answer = world.client.post("/softphone/token", headers={**world.headers("sam"), **host})
    assert answer.status_code == 200, answer.text
    assert answer.json()["url"] == "wss://console.example.fr:5067"
    page = world.client.get("/console/", headers=host)
    assert "connect-src 'self' wss://console.example.fr:5067" in (
        page.headers["content-security-policy"])
    forged = world.client.get("/console/", headers={"host": "x' 'unsafe-inline"})
    assert "unsafe-inline" not in forged.headers["content-security-policy"]
    # served by uvicorn as `telesec serve` does, with the self-signed pair
    tls = console_certificate(settings)
    assert tls is not None
    server = __import__("uvicorn").Server(api_server_config(settings, world.app, tls))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        trust = ssl.create_default_context(cafile=str(tls.certificate))
        reply = httpx.get(f"https://127.0.0.1:{settings.api.port}/console/", verify=trust,
                          timeout=30)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert reply.status_code == 200
    assert reply.headers["strict-transport-security"].startswith("max-age=")
    assert "wss://127.0.0.1:5067" in reply.headers["content-security-policy"]
