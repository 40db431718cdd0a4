"""Database engine and sessions: SQLite (WAL) by default, PostgreSQL through a URL.

SQLite files are private and keep no deleted data: the database, its WAL and shared
memory files are created 0600 (in 0700 directories) whatever the umask;
``secure_delete`` overwrites deleted content with zeros (it is not left to how the
library was built); ``journal_size_limit`` keeps the WAL from staying large after a
checkpoint; and :func:`truncate_wal` empties the WAL after an erasure or a retention
run, so that no older version of a changed page stays in it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from storage.private_files import private_dir, private_file, restrict

log = logging.getLogger(__name__)

JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024  # bytes the WAL is cut back to after a checkpoint
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


class DatabaseError(Exception):
    """The database cannot be reached or used; the message says what to do."""


def make_engine(url: str, *, immediate: bool = True, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout.

    SQLite transactions start with BEGIN IMMEDIATE (the write lock taken up front, so two
    writers never deadlock on a lock upgrade) unless ``immediate`` is false, for engines
    that only read: WAL readers then run beside the writer.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
        if path and path != ":memory:" and not path.startswith("file:"):
            _private_sqlite_files(Path(path))
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, open transactions, so that BEGIN IMMEDIATE
            # takes the write lock at the start of a write transaction.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA secure_delete=ON")
            cur.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _private_sqlite_files(path: Path) -> None:
    """The database file exists with mode 0600 before SQLite opens it: SQLite gives its
    WAL and shared-memory files the mode of the database file. Files made by an older
    version with a wider mode are brought to 0600."""
    private_dir(path.parent)
    private_file(path)
    for suffix in SQLITE_SIDE_FILES:
        restrict(path.with_name(path.name + suffix), 0o600)


def truncate_wal(engine: Engine) -> bool:
    """Checkpoint a SQLite WAL into the database and cut it to zero bytes (after an
    erasure or a retention run: older copies of the pages changed stay in the WAL until
    then). Waits for readers up to the busy timeout; returns False if one was still
    there (the WAL is then emptied at a later call). Does nothing on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return True
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        busy, _frames, _done = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cursor.close()
    finally:
        raw.close()
    if busy:
        log.warning("the WAL could not be emptied (a reader was still active); "
                    "it will be at the next erasure or retention run")
    return not busy


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_engine = (
            make_engine(url, immediate=False, **engine_kwargs)
            if self.engine.dialect.name == "sqlite"
            else self.engine
        )
        self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads only: on SQLite it does not wait for the write lock."""
        with self._read_sessions() as session, session.begin():
            yield session

    def truncate_wal(self) -> bool:
        """See :func:`truncate_wal`."""
        return truncate_wal(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
        self._read_engine.dispose()
