"""``telesec demo seed``: the fictional demo practice, to try Telesec without real data."""

from __future__ import annotations

import typer

from foundation.errors import TelesecError
from foundation.settings import load_settings
from scheduling.demo import DEMO_SLUG, seed_demo
from scheduling.errors import SchedulingError
from telesec.wiring import open_database, open_keyring

app = typer.Typer(help="The demo practice.", no_args_is_help=True)


@app.command("seed")
def seed() -> None:
    """Create (or refresh) the demo practice, its patients and a few appointments.

    Audited as ``system:demo-seed``.
    """
    settings = load_settings()
    db = open_database(settings)
    try:
        open_keyring(settings)
        report = seed_demo(db)
    except SchedulingError as exc:
        raise TelesecError(str(exc)) from None
    finally:
        db.dispose()
    typer.echo(
        f"demo practice '{DEMO_SLUG}' ready: {report.patients_added} patients and "
        f"{report.appointments_added} appointments added"
    )
