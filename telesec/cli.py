"""The ``telesec`` command. Each group of sub-commands lives in :mod:`telesec.commands`."""

from __future__ import annotations

import sys

import typer

from foundation.errors import TelesecError
from foundation.settings import SettingsError
from telesec.commands import (
    agenda,
    audit,
    backup,
    calendars,
    db,
    demo,
    flows,
    front,
    keys,
    models,
    practice,
    prompts,
    retention,
    serve,
    simulate,
    speech,
    trunks,
    users,
)

app = typer.Typer(
    name="telesec",
    help="Telesec: telephony engine for medical remote-secretary services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("init")(db.init)
app.add_typer(db.app, name="db")
app.add_typer(demo.app, name="demo")
app.add_typer(agenda.app, name="agenda")
app.add_typer(practice.app, name="practice")
app.add_typer(calendars.app, name="calendars")
app.add_typer(models.app, name="models")
app.add_typer(prompts.app, name="prompts")
app.add_typer(speech.app, name="speech")
app.command("serve")(serve.serve)
app.command("front")(front.front)
app.add_typer(flows.app, name="flows")
app.command("simulate")(simulate.simulate)
app.add_typer(audit.app, name="audit")
app.add_typer(keys.app, name="keys")
app.add_typer(retention.app, name="retention")
app.add_typer(backup.app, name="backup")
app.add_typer(users.app, name="users")
app.add_typer(trunks.app, name="trunks")


def main() -> None:
    """Entry point: run the CLI, printing known errors as one line and exiting 2."""
    try:
        app(standalone_mode=True)
    except (TelesecError, SettingsError) as exc:
        typer.secho(f"telesec: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)


if __name__ == "__main__":
    main()
