"""``telesec demo seed``: the fictional demo practice, to try Telesec without real data."""

from __future__ import annotations

import typer

from scheduling.demo import DEMO_SLUG, seed_demo
from telesec.commands.agenda import opened_database

app = typer.Typer(help="The demo practice.", no_args_is_help=True)


@app.command("seed")
def seed() -> None:
    """Create (or refresh) the demo practice, its patients and a few appointments.

    Audited as ``system:demo-seed``.
    """
    with opened_database(keys=True) as db:
        report = seed_demo(db)
    typer.echo(
        f"demo practice '{DEMO_SLUG}' ready: {report.patients_added} patients and "
        f"{report.appointments_added} appointments added"
    )
