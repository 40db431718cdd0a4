"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from storage.db import Database
from storage.migrate import current_revision, head_revision, pending_model_changes


def test_migrations_reach_head_and_match_the_models(db: Database) -> None:
    assert current_revision(db.engine) == head_revision()
    assert pending_model_changes(db.engine) == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
