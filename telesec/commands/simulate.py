"""``telesec simulate``: be the caller, at the keyboard, against the real agenda and database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from foundation.errors import TelesecError
from foundation.settings import load_settings
from ivr_flows.checker import FlowInvalid
from ivr_flows.services import build_services, vault_voicemail_sinks
from ivr_flows.simulator import TextChannel, fixed_clock, make_interpreter
from scheduling.errors import SchedulingError
from storage.identity import cipher
from storage.vault import Vault
from telesec.wiring import open_database, open_keyring

FLOWS_DIR = Path(__file__).resolve().parents[2] / "ivr_flows" / "flows"

HELP = """Type what the caller says, or keys as `#1` / `key 1` / `keys 12031984#`.
An empty line is silence; `hangup` hangs up. Ctrl-D also hangs up."""


def simulate(
    practice: str = typer.Option("demo", help="Slug of the practice called."),
    lang: str = typer.Option("fr", help="Language of the default flow: fr or en."),
    flow: Path | None = typer.Option(None, help="A flow file instead of the default one."),
    caller: str | None = typer.Option(None, help="Caller number presented (caller ID)."),
    secretary_answers: bool = typer.Option(False, help="Transfers are answered."),
    at: str | None = typer.Option(
        None, help="Pretend the call happens at this local time (YYYY-MM-DDTHH:MM)."),
) -> None:
    """Simulate a call: you are the caller, Telesec answers in text."""
    if lang not in ("fr", "en"):
        raise TelesecError(f"--lang {lang}: use fr or en")
    settings = load_settings()
    clock = None
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise TelesecError(f"--at {at}: give a local time as YYYY-MM-DDTHH:MM") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=settings.zone)
        clock = fixed_clock(moment.astimezone(UTC))
    db = open_database(settings)
    try:
        open_keyring(settings)
        vault = Vault(db, cipher().keyring, settings.vault_path)
        services = build_services(db, voicemail_sinks=vault_voicemail_sinks(vault), clock=clock,
                                  retention=settings.retention)
        try:
            interpreter = make_interpreter(services, practice,
                                           flow or FLOWS_DIR / f"default_{lang}.yaml")
        except FlowInvalid as exc:
            raise TelesecError(f"the flow has problems; run `telesec flows check`:\n{exc}"
                               ) from None
        except SchedulingError as exc:
            raise TelesecError(f"{exc}; seed the demo with `telesec demo seed`") from None
        typer.echo(HELP)

        def next_line() -> str | None:
            try:
                return input("caller> ")
            except EOFError:
                return None

        channel = TextChannel(next_line, show=lambda text: typer.echo(f"telesec: {text}"),
                              caller_number=caller, secretary_answers=secretary_answers)
        report = interpreter.run(channel)
        typer.echo(f"[call over: ended by {report.ended_by}; "
                   f"{'verified' if report.verified else 'not verified'}; "
                   f"steps: {' > '.join(name for name, _ in report.trail)}]")
    finally:
        db.dispose()
