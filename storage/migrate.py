"""Schema migrations (Alembic), driven from code so that an installed package can run them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session

from storage import audit, identity
from storage.db import make_engine
from storage.keyring import Keyring
from storage.models import Base

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head", keyring: Keyring | None = None) -> None:
    """Bring the database at ``url`` to ``revision`` (the latest by default).

    ``keyring`` is needed by migrations that encrypt existing data (0003 seals patient
    identity, 0006 reseals it under per-patient keys); they refuse, in one line, to run
    on a database with patients and no keyring. A new audit trail is then keyed
    (:func:`storage.audit.seal_genesis`) with ``keyring``, or else with the keyring
    installed in this process; with neither, ``telesec init`` does it later.
    """
    config = alembic_config(url)
    config.attributes["keyring"] = keyring
    command.upgrade(config, revision)
    if config.attributes.get("scrub_after_upgrade"):
        scrub_freed_space(url)
    start_audit_trail(url, keyring or identity.installed_keyring())


def start_audit_trail(url: str, keyring: Keyring | None) -> bool:
    """Key the head of a new, empty audit trail; True if it was done now."""
    if keyring is None:
        return False
    engine = make_engine(url)
    try:
        if not inspect(engine).has_table("audit_head"):
            return False
        with Session(engine) as session, session.begin():
            return audit.seal_genesis(session, keyring)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str, keyring: Keyring | None = None) -> None:
    """Take the database at ``url`` back to ``revision``."""
    config = alembic_config(url)
    config.attributes["keyring"] = keyring
    command.downgrade(config, revision)


def scrub_freed_space(url: str) -> None:
    """Rewrite the database so that no freed page still holds data dropped by a migration."""
    engine = make_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            raw = engine.raw_connection()  # autocommit: VACUUM cannot run in a transaction
            try:
                cursor = raw.cursor()
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.execute("VACUUM")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.close()
            finally:
                raw.close()
        else:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM FULL patients")
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@cache
def head_revision() -> str | None:
    """The newest migration's revision (the scripts are read once per process)."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def pending_model_changes(engine: Engine) -> list[object]:
    """Differences between the migrated schema and the models (empty when they agree)."""
    # imported here: loading autogenerate sets up alembic's plugins, which no engine needs
    from alembic.autogenerate import compare_metadata

    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": True}
        )
        return list(compare_metadata(ctx, Base.metadata))
