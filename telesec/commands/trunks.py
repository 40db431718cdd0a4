"""``telesec trunks status``: the practice's SIP accounts as the running front sees them."""

from __future__ import annotations

import typer

from foundation.front_status import STATE_MEANING, read_trunk_status
from foundation.settings import load_settings

app = typer.Typer(help="The SIP accounts and IP trunks of the front (sip.trunks in the settings).",
                  no_args_is_help=True)


@app.command("status")
def status() -> None:
    """One line per trunk: name, kind, state. Exit code 1 if an account is not registered."""
    settings = load_settings()
    if not settings.sip.trunks:
        typer.echo("no trunk configured: add a [[sip.trunks]] section (docs/deploy.md, "
                   "\"Connecting your SIP account\")")
        return
    states = read_trunk_status(settings)
    healthy = True
    for trunk in settings.sip.trunks:
        state = states.get(trunk.name, "unknown")
        if trunk.kind == "register" and state != "registered":
            healthy = False
        where = trunk.aor if trunk.kind == "register" else trunk.registrar
        typer.echo(f"{trunk.name}\t{trunk.kind}\t{where}\t{STATE_MEANING.get(state, state)}")
    if not healthy:
        raise typer.Exit(1)
