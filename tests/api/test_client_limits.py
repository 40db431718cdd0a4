"""Who the client is, and the login limits per client: forwarded headers are believed
only from trusted proxies, and the limits are shared by every API node of a database.
SQLite only (the shared state is tested on both databases in tests/storage)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.proxies import TrustedProxies
from api.ratelimit import AuthLimits, BucketRule
from foundation.settings import Settings
from storage.db import Database
from storage.keyring import Keyring
from telesec.commands.serve import api_server_config
from tests.api.conftest import ApiWorld, build_world
from tests.ports import free_port

STRICT_IP = AuthLimits(per_ip=BucketRule(3, 600), per_login=BucketRule(1000, 0.01),
                       failure_delay_seconds=0.0)
WRONG = {"login": "nobody", "password": "wrong password", "totp_code": "123456"}


@pytest.fixture
def strict_world(sqlite_db: Database, installed_keyring: Keyring,
                 tmp_path: Path) -> Iterator[ApiWorld]:
    world = build_world(sqlite_db, installed_keyring, tmp_path, STRICT_IP)
    yield world
    world.client.close()
    world.app.state.context.feed.close()


def test_rotating_x_forwarded_for_does_not_escape_the_per_address_limit(
    strict_world: ApiWorld,
) -> None:
    """Through a real uvicorn, as ``telesec serve`` starts it, from loopback."""
    settings = Settings(api={"port": free_port()})
    server = __import__("uvicorn").Server(api_server_config(settings, strict_world.app))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        url = f"http://127.0.0.1:{settings.api.port}/auth/login"
        codes = [httpx.post(url, json=WRONG, timeout=30,
                            headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                 for i in range(5)]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429], codes


def test_a_trusted_proxy_names_the_client_and_a_client_cannot_name_itself(
    sqlite_db: Database, installed_keyring: Keyring, tmp_path: Path,
) -> None:
    world = build_world(sqlite_db, installed_keyring, tmp_path, STRICT_IP)
    app = create_app(Settings(data_dir=tmp_path / "data",
                              api={"trusted_proxies": ["10.0.0.0/24"]}),
                     db=world.db, keyring=world.keyring, vault=world.vault, limits=STRICT_IP)
    proxy = TestClient(app, client=("10.0.0.7", 40000))
    # behind the proxy, two clients have two buckets
    for client in ("192.0.2.1", "192.0.2.2"):
        codes = [proxy.post("/auth/login", json=WRONG,
                            headers={"X-Forwarded-For": client}).status_code for _ in range(3)]
        assert codes == [401, 401, 401]
    # what a client writes left of the proxy's own entry changes nothing
    forged = [proxy.post("/auth/login", json=WRONG, headers={
        "X-Forwarded-For": f"203.0.113.{i}, 192.0.2.1"}).status_code for i in range(2)]
    assert forged == [429, 429]
    # a peer outside the trusted networks is itself the client, whatever it writes
    direct = TestClient(app, client=("192.0.2.50", 40000))
    codes = [direct.post("/auth/login", json=WRONG, headers={
        "X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    proxy.close()
    direct.close()


def test_right_most_untrusted_hop_is_the_client() -> None:
    proxies = TrustedProxies(lambda *a: None, networks=["10.0.0.0/8", "fd00::/8"])  # type: ignore[arg-type, misc]
    assert proxies.client_of("10.1.1.1", ["1.1.1.1, 2.2.2.2, 10.2.2.2"]) == "2.2.2.2"
    assert proxies.client_of("10.1.1.1", ["junk, 10.9.9.9"]) == "10.9.9.9"
    assert proxies.client_of("10.1.1.1", []) == "10.1.1.1"
    assert proxies.client_of("192.0.2.9", ["1.1.1.1"]) == "192.0.2.9"
    assert proxies.client_of("fd00::1", ["[2001:db8::5]"]) == "2001:db8::5"


def test_two_api_nodes_share_the_limits(sqlite_db: Database, installed_keyring: Keyring,
                                        tmp_path: Path) -> None:
    world = build_world(sqlite_db, installed_keyring, tmp_path, STRICT_IP)
    second = create_app(Settings(data_dir=tmp_path / "data"), db=world.db,
                        keyring=world.keyring, vault=world.vault, limits=STRICT_IP)
    nodes = [world.client, TestClient(second)]
    codes = [nodes[i % 2].post("/auth/login", json=WRONG).status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    nodes[1].close()
