"""Shared test helpers: a practice, and a full dump of a database as text."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

from storage.db import Database
from storage.models import Practice


def make_practice(db: Database, slug: str = "cabinet") -> int:
    with db.session() as s:
        practice = Practice(slug=slug, name="Cabinet " + slug, timezone="Europe/Paris")
        s.add(practice)
        s.flush()
        return practice.id


def dump(engine: Engine) -> str:
    """Every value of every table (SQLite: iterdump; PostgreSQL: SELECT * of each table).

    Binary values are decoded as Latin-1 so that a plaintext inside them would show.
    """
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            return "\n".join(raw.driver_connection.iterdump())
        finally:
            raw.close()
    lines = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        lines.append(bytes(value).decode("latin-1"))
                    else:
                        lines.append(str(value))
    return "\n".join(lines)
