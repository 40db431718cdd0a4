"""``telesec init`` and ``telesec db ...``: the data directory and the schema."""

from __future__ import annotations

import typer
from sqlalchemy.exc import OperationalError

from foundation.errors import TelesecError
from foundation.settings import Settings, load_settings
from storage.db import make_engine
from storage.identity import IdentityKeysMissing
from storage.migrate import current_revision, head_revision, upgrade
from telesec.wiring import open_keyring

app = typer.Typer(help="Database schema.", no_args_is_help=True)


def _upgrade(settings: Settings) -> str:
    url = settings.effective_database_url
    keys = settings.effective_keyring_path
    keyring = open_keyring(settings) if keys.exists() else None
    try:
        upgrade(url, keyring=keyring)  # some migrations encrypt existing data
        engine = make_engine(url)
        revision = current_revision(engine)
        engine.dispose()
    except OperationalError as exc:
        raise TelesecError(
            f"cannot reach the database ({exc.orig.__class__.__name__}); "
            "check TELESEC_DATABASE_URL and that the server is running"
        ) from None
    except IdentityKeysMissing as exc:
        raise TelesecError(str(exc)) from None
    return revision or "none"


def prepare_data_dir(settings: Settings) -> tuple[bool, str]:
    """Data directory (mode 0700), keyring on first run, latest schema; idempotent.

    Returns whether the keyring was created now, and the schema revision.
    """
    settings.data_path.mkdir(parents=True, exist_ok=True)
    settings.data_path.chmod(0o700)
    created = not settings.effective_keyring_path.exists()
    open_keyring(settings, create_if_missing=True)
    return created, _upgrade(settings)


def init() -> None:
    """Create the data directory and the keyring (first run), and migrate the database."""
    settings = load_settings()
    created, revision = prepare_data_dir(settings)
    keys = "created (back it up apart from the data)" if created else "found"
    typer.echo(
        f"data directory {settings.data_path} ready; keyring {keys} at "
        f"{settings.effective_keyring_path}; database at schema {revision}"
    )


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
