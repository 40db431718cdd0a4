"""The login limits kept in Redis (``api.rate_limit_redis_url``): a real redis-server on
loopback, two API nodes sharing it. SQLite only."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from api.ratelimit import AuthLimits, BucketRule
from foundation.settings import Settings
from storage.db import Database
from storage.keyring import Keyring
from storage.models import RateBucket
from tests.api.conftest import build_world
from tests.ports import free_port

WRONG = {"login": "nobody", "password": "wrong password", "totp_code": "123456"}


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = shutil.which("redis-server")
    assert server, "redis-server is needed (Debian package redis-server, scripts/setup.sh)"
    port = free_port()
    process = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_two_nodes_share_the_limits_in_redis(sqlite_db: Database, installed_keyring: Keyring,
                                             tmp_path: Path, redis_url: str) -> None:
    limits = AuthLimits(per_ip=BucketRule(3, 600), per_login=BucketRule(1000, 0.01),
                        failure_delay_seconds=0.0)
    world = build_world(sqlite_db, installed_keyring, tmp_path, limits)
    settings = Settings(data_dir=tmp_path / "data", api={"rate_limit_redis_url": redis_url})
    nodes = [TestClient(create_app(settings, db=world.db, keyring=world.keyring,
                                   vault=world.vault, limits=limits)) for _ in range(2)]
    codes = [nodes[i % 2].post("/auth/login", json=WRONG).status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    with world.db.read_session() as session:
        assert session.query(RateBucket).count() == 0  # all in Redis
    assert redis.Redis.from_url(redis_url).keys("telesec:limits:*")
    for node in nodes:
        node.close()


def test_failures_block_the_pair_in_redis(sqlite_db: Database, installed_keyring: Keyring,
                                          tmp_path: Path, redis_url: str) -> None:
    limits = AuthLimits(per_ip=BucketRule(1000, 0.01), per_login=BucketRule(1000, 0.01),
                        failure_delay_seconds=0.0)
    world = build_world(sqlite_db, installed_keyring, tmp_path, limits)
    settings = Settings(data_dir=tmp_path / "data", api={"rate_limit_redis_url": redis_url})
    app = create_app(settings, db=world.db, keyring=world.keyring, vault=world.vault,
                     limits=limits)
    here = TestClient(app, client=("192.0.2.1", 1))
    there = TestClient(app, client=("192.0.2.2", 1))
    assert [here.post("/auth/login", json=WRONG).status_code for _ in range(6)] == \
        [401] * 5 + [429]
    assert there.post("/auth/login", json=WRONG).status_code == 401
    here.close()
    there.close()
