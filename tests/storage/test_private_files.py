"""Finding 13: the database, its WAL and the vault are private whatever the umask, and
SQLite overwrites deleted content because the code says so (not the library's build)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from storage.db import JOURNAL_SIZE_LIMIT, Database
from storage.keyring import Keyring
from storage.migrate import upgrade
from storage.models import ObjectKind
from storage.vault import Vault


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_database_wal_and_vault_are_private_whatever_the_umask(
    tmp_path: Path, open_umask: None, installed_keyring: Keyring
) -> None:
    data = tmp_path / "new" / "data"
    url = f"sqlite:///{data / 'telesec.db'}"
    upgrade(url)
    db = Database(url)
    try:
        vault = Vault(db, installed_keyring, data / "vault")
        object_id = vault.put(ObjectKind.VOICEMAIL, b"bonjour")
        with db.session() as s:
            s.execute(text("SELECT 1"))
            files = {p.name: _mode(p) for p in data.iterdir() if p.is_file()}
        assert files == {"telesec.db": 0o600, "telesec.db-wal": 0o600, "telesec.db-shm": 0o600}
        blob = vault.path(vault.relative_path(object_id))
        assert _mode(data) == _mode(data.parent) == 0o700  # made by the database
        assert _mode(vault.root) == _mode(blob.parent) == 0o700
        assert _mode(blob) == 0o600
    finally:
        db.dispose()


def test_files_made_by_an_older_version_are_brought_to_0600(tmp_path: Path) -> None:
    path = tmp_path / "telesec.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    for name in ("telesec.db", "telesec.db-wal", "telesec.db-shm"):
        if (tmp_path / name).exists():
            (tmp_path / name).chmod(0o644)
    db = Database(url)
    try:
        with db.session() as s:
            s.execute(text("SELECT 1"))
        assert {p.name: _mode(p) for p in tmp_path.iterdir()} == {
            "telesec.db": 0o600, "telesec.db-wal": 0o600, "telesec.db-shm": 0o600}
    finally:
        db.dispose()


def _without_secure_delete(db: Database) -> None:
    """Make every new connection start as a libsqlite built without SECURE_DELETE would."""
    def off(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA secure_delete=OFF")

    for engine in (db.engine, db._read_engine):
        event.listen(engine, "connect", off, insert=True)


def test_secure_delete_and_journal_size_limit_are_set_by_the_code(sqlite_db: Database) -> None:
    sqlite_db.dispose()
    _without_secure_delete(sqlite_db)
    for session in (sqlite_db.session, sqlite_db.read_session):
        with session() as s:
            assert s.execute(text("PRAGMA secure_delete")).scalar() == 1
            assert s.execute(text("PRAGMA journal_size_limit")).scalar() == JOURNAL_SIZE_LIMIT
