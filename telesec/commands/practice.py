"""``telesec practice show|set``: what a practice tells its callers (its profile).

The profile holds the name said in the greeting, address and access (written for the
ear), whether new patients are taken, the secretaries' line, SOS Médecins, the on-call
line, the pharmacy on duty, the duplicate-visit window, the privacy contact and the staff
alert recipients (docs/flows.md, "Practice information"). Changes are audited as
``cli:<unix user>``; the API (``PATCH /practices/{slug}/profile``) changes the same.
"""

from __future__ import annotations

import json

import typer

from foundation.errors import TelesecError
from scheduling import lookup, practice_profile
from telesec.commands.agenda import cli_actor, opened_database

app = typer.Typer(help="A practice's information for callers (its profile).",
                  no_args_is_help=True)

PURPOSE = "practice set-up from the command line"
NONE_WORDS = {"none", "null", ""}


@app.command("show")
def show(practice: str = typer.Argument(..., help="The practice's slug.")) -> None:
    """Print the practice's profile and which doctors take new patients."""
    with opened_database() as db, db.read_session() as session:
        place = lookup.practice(session, practice)
        about = practice_profile.profile(session, place.id)
        doctors = [(p.slug, p.accepts_new_patients) for p in place.practitioners if p.active]
    for name in practice_profile.FIELDS:
        value = getattr(about, name)
        shown = ", ".join(value) if isinstance(value, tuple) else value
        typer.echo(f"{name}: {'' if shown is None else shown}")
    for slug, accepts in doctors:
        typer.echo(f"doctor {slug}: {'takes' if accepts else 'does not take'} new patients")


def _value(name: str, text: str) -> object:
    if name in ("alert_recipients", "hunt_order"):
        return [part.strip() for part in text.split(",") if part.strip()]
    if name == "hunt_seconds":
        if not text.isdigit():
            raise TelesecError(f"{name}: write a number of seconds (5 to 120)")
        return int(text)
    if name == "accepts_new_patients":
        if text.lower() not in {"yes", "no", "true", "false"}:
            raise TelesecError(f"{name}: write yes or no")
        return text.lower() in {"yes", "true"}
    if name == "duplicate_window_days":
        if not text.isdigit():
            raise TelesecError(f"{name}: write a number of days (0 turns the check off)")
        return int(text)
    return None if text.strip().lower() in NONE_WORDS else text


@app.command("set")
def set_fields(
    practice: str = typer.Argument(..., help="The practice's slug."),
    fields: list[str] = typer.Argument(..., help="FIELD=VALUE ... (VALUE none clears it; "
                                       "alert_recipients, hunt_order: comma-separated)"),
) -> None:
    """Change fields of the profile, e.g. ``secretary_line=sip:accueil@10.0.0.5``."""
    changes: dict[str, object] = {}
    for item in fields:
        name, sep, text = item.partition("=")
        if not sep or name not in practice_profile.FIELDS:
            raise TelesecError(f"{item!r}: write FIELD=VALUE with FIELD one of "
                               f"{', '.join(practice_profile.FIELDS)}")
        changes[name] = _value(name, text)
    with opened_database(keys=True) as db, db.session() as session:  # keys: the audit's
        place = lookup.practice(session, practice)
        about = practice_profile.update_profile(session, place.id, changes,
                                                actor=cli_actor(), purpose=PURPOSE)
    typer.echo(json.dumps({name: getattr(about, name) for name in changes},
                          ensure_ascii=False))


@app.command("doctor")
def doctor(
    practice: str = typer.Argument(..., help="The practice's slug."),
    slug: str = typer.Argument(..., help="The doctor's slug."),
    new_patients: bool | None = typer.Option(None, "--new-patients/--no-new-patients",
                                             help="Whether this doctor takes new patients."),
    alert_address: str | None = typer.Option(None, help="Where this doctor's voicemail "
                                             "alerts go (e-mail or +33... mobile; none)."),
) -> None:
    """Whether a doctor takes new patients, and where their voicemail alerts go."""
    with opened_database(keys=True) as db, db.session() as session:
        place = lookup.practice(session, practice)
        person = lookup.practitioner(session, place.id, slug)
        address: object = ...
        if alert_address is not None:
            address = None if alert_address.lower() in NONE_WORDS else alert_address
        practice_profile.set_practitioner_options(
            session, person.id, accepts_new_patients=new_patients, alert_address=address,
            actor=cli_actor(), purpose=PURPOSE)
        accepts = person.accepts_new_patients
    typer.echo(f"doctor {slug}: {'takes' if accepts else 'does not take'} new patients")
