"""HTTP-level hardening: no third-party scripts on the console's origin, hostile Range
headers, request bodies capped before they are read. SQLite only."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from foundation.settings import Settings
from tests.api.conftest import ApiWorld
from tests.api.helpers import voicemail


def test_no_docs_pages_and_the_same_csp_everywhere(sqlite_world: ApiWorld) -> None:
    client = sqlite_world.client
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "cdn" not in answer.text.lower()
    policies = {client.get(p).headers.get("content-security-policy")
                for p in ("/openapi.json", "/console/", "/health", "/docs")}
    assert len(policies) == 1 and "default-src 'self'" in policies.pop()


@pytest.mark.parametrize(("header", "status"), [
    ("bytes=" + "9" * 5000 + "-", 416),
    ("bytes=0-" + "9" * 5000, 206),
    ("bytes=-" + "9" * 5000, 206),
    ("bytes=" + "0" * 4990 + "10-19", 206),
])
def test_absurd_range_numbers(sqlite_world: ApiWorld, caplog: pytest.LogCaptureFixture,
                              header: str, status: int) -> None:
    world = sqlite_world
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("sam")
    message, pcm = voicemail(world, None)
    with caplog.at_level(logging.DEBUG):
        answer = world.client.get(f"/voicemail/{message}/audio",
                                  headers={**world.headers("sam"), "Range": header})
    assert answer.status_code == status, answer.text
    if status == 416:
        assert answer.json()["code"] == "range_not_satisfiable"
        assert answer.headers["content-range"] == f"bytes */{len(pcm) + 44}"
    assert "99999" not in caplog.text


@pytest.fixture
def small_limit(sqlite_world: ApiWorld, tmp_path: Path) -> Iterator[TestClient]:
    world = sqlite_world
    app = create_app(Settings(data_dir=tmp_path / "data", api={"max_body_bytes": 4096}),
                     db=world.db, keyring=world.keyring, vault=world.vault)
    with TestClient(app) as client:
        yield client


def test_bodies_over_the_cap_are_413_before_being_read(small_limit: TestClient) -> None:
    big = b'{"login": "sam", "password": "' + b"x" * 10_000 + b'", "totp_code": "123456"}'
    declared = small_limit.post("/auth/login", content=big,
                                headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.json()["code"] == "too_large"
    assert declared.headers["content-security-policy"]

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    streamed = small_limit.post("/auth/login", content=chunks(),
                                headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["code"] == "too_large"
    lying = small_limit.post("/auth/login", content=b"{}", headers={
        "content-type": "application/json", "content-length": "9" * 40})
    assert lying.status_code == 413
    small = small_limit.post("/auth/login", json={"login": "sam", "password": "x",
                                                  "totp_code": "123456"})
    assert small.status_code == 401  # under the cap: an ordinary failed login
