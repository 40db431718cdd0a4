"""Shared fixtures. Database tests run on SQLite and on PostgreSQL (a fresh database each).

PostgreSQL is not optional: set TELESEC_TEST_PG_URL to an admin URL of a server (default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres); the tests create and drop their
own databases there.

``scripts/test.sh`` runs two pytest-xdist workers (``--dist loadgroup``): the tests that
place real calls, start the engine's processes or time it (``REAL_TIME_FOLDERS``) all go to
one worker, in their usual order, one at a time as before; the other worker takes the rest
(understanding, flows, API, storage, speech, console...), which never wait on a call.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text

from storage import identity
from storage.db import Database
from storage.keyring import Keyring
from storage.migrate import upgrade

if TYPE_CHECKING:
    from playwright.sync_api import Playwright

#: folders whose tests run real calls, the engine's processes or its benchmarks
REAL_TIME_FOLDERS = frozenset(
    {"bench", "e2e", "edge", "engine", "faults", "multinode", "telephony", "telephony_pool"}
)
TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The real-time tests share one xdist group: one worker, one at a time, in order."""
    for item in items:
        folder = item.path.relative_to(TESTS).parts[0]
        if folder in REAL_TIME_FOLDERS:
            item.add_marker(pytest.mark.xdist_group("real_time"))


PG_ADMIN_URL = os.environ.get(
    "TELESEC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(autouse=True)
def installed_keyring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyring]:
    """A fresh keyring, installed for encrypted patient identity and the audit trail."""
    ring = Keyring.create(tmp_path_factory.mktemp("keys") / "keyring.json")
    identity.install(ring)
    yield ring
    identity.uninstall()


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    name = f"telesec_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'telesec.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each kind in turn."""
    if request.param == "postgres":
        return request.getfixturevalue("pg_database_url")
    return request.getfixturevalue("sqlite_database_url")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated database of each kind in turn."""
    upgrade(database_url)
    database = Database(database_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def sqlite_db(sqlite_database_url: str) -> Iterator[Database]:
    upgrade(sqlite_database_url)
    database = Database(sqlite_database_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """One Playwright driver for the whole run (its sync API cannot be started twice in
    one process while the first is open: the console and the softphone tests share it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver
