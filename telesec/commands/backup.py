"""``telesec backup create | restore``: one encrypted archive of the database and vault."""

from __future__ import annotations

from pathlib import Path

import typer

from foundation.errors import TelesecError
from foundation.settings import load_settings
from storage.backup import BackupError, create_backup, restore_backup
from storage.vault import VaultIntegrityError
from telesec.wiring import open_keyring, open_vault

app = typer.Typer(help="Encrypted backups (the keyring is never inside: keep it apart).",
                  no_args_is_help=True)


@app.command("create")
def create(file: Path = typer.Argument(..., help="archive to write")) -> None:
    """Write an encrypted archive of the database and every vault blob."""
    vault = open_vault(load_settings())
    try:
        summary = create_backup(vault.db, vault.root, vault.keyring, file)
    except BackupError as exc:
        raise TelesecError(str(exc)) from None
    typer.echo(f"archive {file}: {summary.database} database, {summary.objects} objects, "
               f"{summary.bytes_written} bytes; the keyring is not in it")


@app.command("restore")
def restore(
    file: Path = typer.Argument(..., help="archive to read"),
    into: Path = typer.Option(..., "--into", help="new, empty data directory"),
    database_url: str = typer.Option(None, "--database-url",
                                     help="empty database for a PostgreSQL archive"),
) -> None:
    """Restore an archive into an empty data directory, keeping destroyed objects dead."""
    keyring = open_keyring(load_settings())
    try:
        result = restore_backup(file, keyring, into, database_url)
    except BackupError as exc:
        raise TelesecError(str(exc)) from None
    except VaultIntegrityError as exc:
        raise TelesecError(f"the archive is damaged: {exc}") from None
    typer.echo(f"restored {result.objects} objects into {into} ({result.kept_destroyed} "
               f"destroyed since, or unfinished, kept as tombstones); database "
               f"{result.database_url}. Put the keyring where the settings expect it.")
