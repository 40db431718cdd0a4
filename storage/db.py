"""Database engine and sessions: SQLite (WAL) by default, PostgreSQL through a URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


class DatabaseError(Exception):
    """The database cannot be reached or used; the message says what to do."""


def make_engine(url: str, *, immediate: bool = True, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout.

    SQLite transactions start with BEGIN IMMEDIATE (the write lock taken up front, so two
    writers never deadlock on a lock upgrade) unless ``immediate`` is false, for engines
    that only read: WAL readers then run beside the writer.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
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
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


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

    def dispose(self) -> None:
        self.engine.dispose()
        self._read_engine.dispose()
