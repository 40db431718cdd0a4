"""Shared fixtures. Database tests run on SQLite and on PostgreSQL (a fresh database each).

PostgreSQL is not optional: set TELESEC_TEST_PG_URL to an admin URL of a server (default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres); the tests create and drop their
own databases there.

``scripts/test.sh`` runs two pytest-xdist workers. The tests that place real calls or start
the engine's processes run in two groups (``SERIAL_GROUPS``), each on one worker, in order,
one test at a time, so that two runs of the same kind (two pools, two benchmarks) never
pick the same ports at once; the other tests (understanding, flows, API, storage, speech,
console...) go to whichever worker is free.
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

#: test folders whose tests run one at a time on one xdist worker, per group
SERIAL_GROUPS = {
    "calls": frozenset({"e2e", "engine", "faults", "edge"}),  # `telesec serve`, the front
    "pools": frozenset({"bench", "telephony", "telephony_pool", "multinode"}),  # workers
}


def serial_group(nodeid: str) -> str | None:
    """The serial group of a test (``tests/<folder>/...``), or None."""
    parts = nodeid.split("/", 2)
    folder = parts[1] if len(parts) == 3 and parts[0] == "tests" else ""
    return next((name for name, folders in SERIAL_GROUPS.items() if folder in folders), None)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's scope scheduling, with each serial group as one scope (biggest first)."""
    from xdist.scheduler import LoadScopeScheduling

    class SerialGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return serial_group(nodeid) or nodeid

    return SerialGroups(config, log)


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
