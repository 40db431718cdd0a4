"""``telesec init`` and ``telesec db ...``: the data directory and the schema."""

from __future__ import annotations

import typer
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from foundation.errors import TelesecError
from foundation.settings import Settings, load_settings
from storage import audit, identity
from storage.audit_anchor import AnchorEntry, AnchorError, FileAnchor
from storage.db import Database, make_engine
from storage.identity import IdentityKeysMissing
from storage.migrate import current_revision, head_revision, upgrade
from storage.private_files import private_dir
from telesec.commands.keys import checkpoint_key_line
from telesec.wiring import audit_anchors, open_keyring

app = typer.Typer(help="Database schema.", no_args_is_help=True)


def _anchored(settings: Settings) -> list[AnchorEntry]:
    entries: list[AnchorEntry] = []
    for anchor in audit_anchors(settings):
        if isinstance(anchor, FileAnchor) and anchor.path.exists():
            try:
                entries += anchor.entries()[0]
            except AnchorError as exc:
                raise TelesecError(str(exc)) from None
    return entries


def _refuse_start_over(url: str, anchored: list[AnchorEntry]) -> None:
    """An emptied trail is not keyed again when the anchor says it had events."""
    if not anchored:
        return
    engine = make_engine(url)
    try:
        if inspect(engine).has_table("audit_head"):
            with Session(engine) as session:
                audit.refuse_start_over(session, anchored)
    finally:
        engine.dispose()


def _upgrade(settings: Settings) -> str:
    url = settings.effective_database_url
    keys = settings.effective_keyring_path
    keyring = open_keyring(settings) if keys.exists() else None
    try:
        _refuse_start_over(url, _anchored(settings))
        upgrade(url, keyring=keyring)  # some migrations encrypt existing data
        engine = make_engine(url)
        revision = current_revision(engine)
        engine.dispose()
    except OperationalError as exc:
        raise TelesecError(
            f"cannot reach the database ({exc.orig.__class__.__name__}); "
            "check TELESEC_DATABASE_URL and that the server is running"
        ) from None
    except (IdentityKeysMissing, audit.AuditTampered) as exc:
        raise TelesecError(str(exc)) from None
    return revision or "none"


def prepare_data_dir(settings: Settings) -> tuple[bool, str]:
    """Data directory (mode 0700), keyring on first run, latest schema (the audit trail
    keyed from its start), a first checkpoint in the audit anchors; idempotent.

    Returns whether the keyring was created now, and the schema revision.
    """
    private_dir(settings.data_path)
    settings.data_path.chmod(0o700)
    created = not settings.effective_keyring_path.exists()
    keyring = open_keyring(settings, create_if_missing=True)
    revision = _upgrade(settings)
    anchors = audit_anchors(settings)
    if anchors:
        db = Database(settings.effective_database_url)
        try:
            with db.session() as session:
                audit.checkpoint(session, keyring, anchors, only_if_moved=True)
        except (audit.AuditTampered, AnchorError) as exc:
            raise TelesecError(str(exc)) from None
        finally:
            db.dispose()
    return created, revision


def init() -> None:
    """Create the data directory and the keyring (first run), and migrate the database."""
    settings = load_settings()
    created, revision = prepare_data_dir(settings)
    keys = "created (back it up apart from the data)" if created else "found"
    typer.echo(
        f"data directory {settings.data_path} ready; keyring {keys} at "
        f"{settings.effective_keyring_path}; database at schema {revision}"
    )
    keyring = identity.installed_keyring()
    if keyring is not None:
        typer.echo(checkpoint_key_line(keyring))


@app.command("upgrade")
def upgrade_command() -> None:
    """Apply pending schema migrations."""
    revision = _upgrade(load_settings())
    typer.echo(f"database at schema {revision}")


@app.command("status")
def status() -> None:
    """Show the schema revision of the database and the one this Telesec needs."""
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    typer.echo(f"database schema {current or 'none'}; this Telesec needs {head_revision()}")
