"""``telesec retention run``: destroy what is past its retention period."""

from __future__ import annotations

import typer

from foundation.settings import load_settings
from storage.retention import Retention
from telesec.wiring import open_vault

app = typer.Typer(help="Retention of recordings, voicemail, transcripts, exports.",
                  no_args_is_help=True)


@app.command("run")
def run(dry_run: bool = typer.Option(False, "--dry-run", help="only say what is due")) -> None:
    """Recover interrupted writes, then crypto-shred every object whose time is up."""
    vault = open_vault(load_settings())
    if not dry_run:
        typer.echo(f"recovery: {vault.recover().summary()}")
    report = Retention(vault).run(dry_run=dry_run)
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(report.counts().items())) or "nothing"
    verb = "due" if dry_run else "destroyed"
    typer.echo(f"{verb}: {counts}")
