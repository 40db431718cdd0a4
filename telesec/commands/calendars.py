"""``telesec calendars ...``: link practitioners' own calendars, see their state, sync now.

A CalDAV calendar is two-way (busy time in, appointments out); an ICS address is read
only. The password is never taken on the command line (it would show in ``ps`` and the
shell's history): it is asked for, or read from standard input with --password-stdin.
Every change is audited as ``cli:<unix user>`` (docs/calendars.md).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import typer
from sqlalchemy import select

from calendars.credentials import CalendarSource, CalendarSourceInvalid, checked_source
from calendars.links import (
    CalendarLinkError,
    link_calendar,
    request_sync,
    settings_of,
    statuses,
    unlink_calendar,
    update_settings,
)
from calendars.remote import CalDavCollection, CalendarServerError, IcsFeed, list_calendars
from calendars.sync import CalendarSync
from foundation.errors import TelesecError
from foundation.settings import Settings, load_settings
from scheduling import lookup
from scheduling.errors import SchedulingError
from storage.db import Database
from storage.keyring import Keyring
from storage.models import CalendarKind, Practice, utcnow
from telesec.commands.agenda import cli_actor
from telesec.wiring import open_database, open_keyring

app = typer.Typer(help="Practitioners' own calendars (CalDAV, ICS): link, status, sync.",
                  no_args_is_help=True)

PURPOSE = "operator work on the practitioners' calendars from the command line"


@dataclass
class _Parts:
    settings: Settings
    db: Database
    keyring: Keyring

    def sync(self) -> CalendarSync:
        return CalendarSync(self.db, self.keyring, self.settings.calendars)


@contextmanager
def _opened() -> Iterator[_Parts]:
    settings = load_settings()
    db = open_database(settings)
    try:
        yield _Parts(settings, db, open_keyring(settings))
    except (SchedulingError, CalendarSourceInvalid) as exc:
        raise TelesecError(str(exc)) from None
    finally:
        db.dispose()


def _ids(parts: _Parts, practice: str, doctor: str | None) -> tuple[int, int | None]:
    with parts.db.read_session() as session:
        place = lookup.practice(session, practice)
        person = lookup.practitioner(session, place.id, doctor) if doctor else None
        return place.id, person.id if person else None


def _password(username: str | None, from_stdin: bool) -> str | None:
    if username is None:
        return None
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise TelesecError("--password-stdin: standard input gave no password")
        return line
    return typer.prompt(f"password of {username} on the calendar server", hide_input=True)


@app.command("link")
def link(
    practice: str = typer.Option(..., help="Practice slug."),
    doctor: str = typer.Option(..., help="Practitioner slug."),
    caldav: str | None = typer.Option(None, help="CalDAV collection address (two-way)."),
    ics: str | None = typer.Option(None, help="Address of an .ics file (read only)."),
    username: str | None = typer.Option(None, help="User name on the calendar server."),
    password_stdin: bool = typer.Option(False, help="Read the password from standard input."),
    owner_address: str | None = typer.Option(
        None, help="The practitioner's calendar e-mail address(es), comma-separated: "
        "invitations they declined or have not answered are recognised by it."),
    check: bool = typer.Option(True, help="Connect once before linking."),
) -> None:
    """Link a practitioner's calendar (replaces the previous one); syncs it at once."""
    if (caldav is None) == (ics is None):
        raise TelesecError("give either --caldav ADDRESS (two-way) or --ics ADDRESS (read only)")
    kind = "caldav" if caldav else "ics"
    try:
        source = checked_source(kind, caldav or ics or "", username,
                                _password(username, password_stdin))
    except CalendarSourceInvalid as exc:
        raise TelesecError(str(exc)) from None
    with _opened() as parts:
        practice_id, practitioner_id = _ids(parts, practice, doctor)
        assert practitioner_id is not None
        if check:
            _check(source, parts.settings.calendars.timeout_seconds)
        with parts.db.session() as session:
            link_calendar(session, parts.keyring, practice_id, practitioner_id, source,
                          owner_addresses=owner_address, actor=cli_actor(), purpose=PURPOSE)
        typer.echo(f"linked {doctor}'s {kind} calendar on {source.server}")
        reports = parts.sync().sync_now(practice_id, practitioner_id)
        for report in reports:
            typer.echo(report.line())
        if any(not r.ok for r in reports):
            raise typer.Exit(1)


def _check(source: CalendarSource, timeout: float) -> None:
    try:
        if source.kind is CalendarKind.CALDAV:
            with CalDavCollection(source, timeout=timeout) as collection:
                collection.check()
        else:
            with IcsFeed(source, timeout=timeout) as feed:
                feed.fetch(None)
    except CalendarServerError as exc:
        raise TelesecError(f"{exc} (nothing was linked; --no-check links anyway)") from None


@app.command("discover")
def discover(
    server: str = typer.Option(..., help="The CalDAV server's address (its root is enough)."),
    username: str = typer.Option(..., help="User name on the calendar server."),
    password_stdin: bool = typer.Option(False, help="Read the password from standard input."),
) -> None:
    """List the calendars a login sees, with the address to give to `link --caldav`."""
    try:
        source = checked_source("caldav", server, username, _password(username, password_stdin))
    except CalendarSourceInvalid as exc:
        raise TelesecError(str(exc)) from None
    timeout = load_settings().calendars.timeout_seconds
    try:
        found = list_calendars(source, timeout=timeout)
    except CalendarServerError as exc:
        raise TelesecError(str(exc)) from None
    if not found:
        typer.echo("no calendar found for this login")
        raise typer.Exit(1)
    for name, address in found:
        typer.echo(f"{name}\t{address}")


@app.command("unlink")
def unlink(
    practice: str = typer.Option(..., help="Practice slug."),
    doctor: str = typer.Option(..., help="Practitioner slug."),
) -> None:
    """Forget a practitioner's calendar (credentials, imported busy time, queue)."""
    with _opened() as parts:
        practice_id, practitioner_id = _ids(parts, practice, doctor)
        assert practitioner_id is not None
        with parts.db.session() as session:
            done = unlink_calendar(session, practice_id, practitioner_id, actor=cli_actor(),
                                   purpose=PURPOSE)
    if not done:
        raise TelesecError(f"{doctor} has no calendar linked")
    typer.echo(f"unlinked {doctor}'s calendar; the events Telesec published there stay in it")


@app.command("status")
def status(practice: str | None = typer.Option(None, help="Practice slug (default: all).")
           ) -> None:
    """Each practitioner's calendar: last sync, errors, what was imported and published."""
    with _opened() as parts, parts.db.read_session() as session:
        places = ([lookup.practice(session, practice)] if practice else
                  list(session.scalars(select(Practice).order_by(Practice.slug))))
        for place in places:
            found = statuses(session, place.id,
                             interval=parts.sync().interval, now=utcnow())
            typer.echo(f"{place.slug}:")
            for item in found:
                typer.echo("  " + item.line())
            view = settings_of(session, place.id)
            typer.echo(f"  settings: tentative events {_blocks(view.tentative_blocks)}, "
                       f"declined invitations {_blocks(view.declined_blocks)}, patient names "
                       f"{'PUBLISHED' if view.publish_patient_identity else 'not published'}")


def _blocks(flag: bool) -> str:
    return "block slots" if flag else "do not block"


@app.command("sync")
def sync(
    practice: str | None = typer.Option(None, help="Practice slug (default: all)."),
    doctor: str | None = typer.Option(None, help="Practitioner slug (needs --practice)."),
    later: bool = typer.Option(False, help="Only ask the running engine's job to sync soon."),
) -> None:
    """Publish queued appointments and sync the calendars now."""
    if doctor and not practice:
        raise TelesecError("--doctor needs --practice")
    with _opened() as parts:
        practice_id, practitioner_id = _ids(parts, practice, doctor) if practice else (None,
                                                                                      None)
        if later:
            if practice_id is None:
                raise TelesecError("--later needs --practice")
            with parts.db.session() as session:
                count = request_sync(session, practice_id, practitioner_id, actor=cli_actor())
            typer.echo(f"{count} calendar(s) will be synced by the engine's next job run")
            return
        reports = parts.sync().sync_now(practice_id, practitioner_id)
    if not reports:
        typer.echo("no calendar linked")
    for report in reports:
        typer.echo(report.line())
    if any(not r.ok for r in reports):
        raise typer.Exit(1)


@app.command("settings")
def settings(
    practice: str = typer.Option(..., help="Practice slug."),
    tentative_blocks: bool | None = typer.Option(
        None, "--tentative-blocks/--tentative-free",
        help="Whether tentative events (and unanswered invitations) block slots."),
    declined_blocks: bool | None = typer.Option(
        None, "--declined-blocks/--declined-free",
        help="Whether invitations the practitioner declined block slots."),
    publish_patient_identity: bool | None = typer.Option(
        None, "--publish-patient-names/--no-patient-names",
        help="Put the patient's name and number in published events (data then leaves "
        "Telesec's encryption: see docs/calendars.md)."),
) -> None:
    """Show or change the practice's calendar settings (changes are audited)."""
    with _opened() as parts:
        with parts.db.read_session() as session:
            practice_id = lookup.practice(session, practice).id
        try:
            with parts.db.session() as session:
                view = update_settings(session, practice_id, tentative_blocks=tentative_blocks,
                                       declined_blocks=declined_blocks,
                                       publish_patient_identity=publish_patient_identity,
                                       actor=cli_actor(), purpose=PURPOSE)
        except CalendarLinkError as exc:
            raise TelesecError(str(exc)) from None
    typer.echo(f"tentative events {_blocks(view.tentative_blocks)}; declined invitations "
               f"{_blocks(view.declined_blocks)}; patient names and numbers "
               f"{'ARE published' if view.publish_patient_identity else 'are not published'}")
    if view.publish_patient_identity:
        typer.secho("warning: patients' names and phone numbers now leave Telesec's "
                    "encryption for the practitioners' calendar servers, which may not be "
                    "certified for health data (HDS).", err=True, fg=typer.colors.YELLOW)
