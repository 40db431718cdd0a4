"""``telesec flows check FILE``: every problem of a flow file, with its line and the fix."""

from __future__ import annotations

from pathlib import Path

import typer

from ivr_flows.checker import check
from ivr_flows.steps import STEP_KINDS

app = typer.Typer(help="IVR call flows.", no_args_is_help=True)


@app.command("check")
def check_command(
    files: list[Path] = typer.Argument(..., help="Flow files (YAML) to check."),
) -> None:
    """Check flow files; print one line per problem (FILE:LINE: what; fix) and exit 1 if any."""
    total = 0
    for path in files:
        problems = check(path, kinds=STEP_KINDS)
        for found in problems:
            typer.echo(str(found))
        if not problems:
            typer.echo(f"{path}: ok")
        total += len(problems)
    if total:
        typer.echo(f"{total} problem{'s' if total > 1 else ''} found", err=True)
        raise typer.Exit(1)
