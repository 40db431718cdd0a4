"""``telesec audit verify | report | checkpoint``: the audit trail for people."""

from __future__ import annotations

import getpass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import typer

from foundation.errors import TelesecError
from foundation.settings import Settings, load_settings
from storage import audit
from storage.audit_anchor import AnchorError, read_anchor
from storage.audit_report import AccessReport, OpeningHours
from storage.db import Database
from storage.keyring import Keyring, KeyringError, parse_public_key, public_key_text
from telesec.wiring import audit_anchors, open_database, open_keyring

app = typer.Typer(help="Audit trail: verify it, review access, sign checkpoints.",
                  no_args_is_help=True)


def _open() -> tuple[Settings, Database, Keyring]:
    settings = load_settings()
    keyring = open_keyring(settings)
    return settings, open_database(settings), keyring


@app.command("verify")
def verify(
    public_key: str | None = typer.Option(
        None, "--public-key",
        help="The checkpoint public key kept apart (ed25519:...): every checkpoint must be "
             "signed by it, whatever key the keyring holds."),
    anchor: Path | None = typer.Option(
        None, "--anchor",
        help="A file of checkpoints kept outside the database (the audit anchor file, or "
             "a syslog file): each must be found in the chain. Default: audit.anchor_file."),
) -> None:
    """Replay the whole chain; exit 1 with one line per problem found."""
    settings, db, keyring = _open()
    try:
        pinned = parse_public_key(public_key) if public_key else None
    except KeyringError as exc:
        raise TelesecError(str(exc)) from None
    anchor_path = anchor or settings.audit.anchor_file
    entries, damaged = None, []
    if anchor_path is not None:
        try:
            entries, damaged = read_anchor(anchor_path.expanduser())
        except AnchorError as exc:
            raise TelesecError(str(exc)) from None
    try:
        with db.session() as session:
            result = audit.verify(session, keyring, public_key=pinned, anchor=entries)
    finally:
        db.dispose()
    problems = damaged + result.problems
    if problems:
        for problem in problems:
            typer.echo(problem)
        raise typer.Exit(1)
    typer.echo(result.summary())
    typer.echo(f"checkpoints signed by {public_key_text(pinned or keyring.checkpoint_public_key)}"
               + (" (pinned)" if pinned else " (the keyring's: pin it with --public-key)"))


@app.command("checkpoint")
def checkpoint() -> None:
    """Sign the current end of the chain and append it to the anchors (audit.anchor_file,
    audit.anchor_syslog); keep the printed line somewhere else too."""
    settings, db, keyring = _open()
    try:
        with db.session() as session:
            point = audit.checkpoint(session, keyring, audit_anchors(settings))
    except (audit.AuditTampered, AnchorError) as exc:
        raise TelesecError(str(exc)) from None
    finally:
        db.dispose()
    typer.echo(f"checkpoint at seq {point.seq}: {point.hash} "
               f"{point.at.isoformat(timespec='seconds')} {point.signature}")
    typer.echo(f"signed by {point.public_key}")


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise TelesecError(f"{option} {text!r} is not a date; use YYYY-MM-DD") from None


def _clock(text: str, option: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise TelesecError(f"{option} {text!r} is not a time; use HH:MM") from None


@app.command("report")
def report(
    since: str = typer.Option(..., help="First day reviewed, YYYY-MM-DD (local time)."),
    until: str | None = typer.Option(None, help="Last day reviewed, included; default today."),
    bulk_threshold: int = typer.Option(20, help="Flag more distinct patients read per hour."),
    opens: str = typer.Option("08:00", help="Opening time, local (reads before are flagged)."),
    closes: str = typer.Option("19:00", help="Closing time, local (reads after are flagged)."),
) -> None:
    """The periodic access review: per staff member, per patient, unusual patterns."""
    settings, db, _ = _open()
    zone = settings.zone
    first = _day(since, "--since")
    last = _day(until, "--until") if until else datetime.now(zone).date()
    if last < first:
        raise TelesecError("--until is before --since; give the days in order")
    start = datetime.combine(first, time(0), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(UTC)
    hours = OpeningHours(opens=_clock(opens, "--opens"), closes=_clock(closes, "--closes"))
    try:
        with db.session() as session:
            review = audit.report(session, start, end, bulk_threshold=bulk_threshold,
                                  opening=hours, default_zone=settings.timezone)
            audit.record(session, actor=f"cli:{getpass.getuser()}", action="audit.report",
                         object_type="audit", object_id=None, purpose="periodic access review",
                         detail={"since": first.isoformat(), "until": last.isoformat()})
    finally:
        db.dispose()
    typer.echo(format_report(review, first, last, settings.timezone))


def format_report(review: AccessReport, first: date, last: date, zone: str) -> str:
    """The review as plain text: ids and pseudonyms only, never names."""
    lines = [f"access review {first} to {last} ({zone}): {review.events} events", "",
             "per staff member:"]
    for who in review.actors:
        lines.append(f"  {who.actor:<32} reads {who.reads:>5}  changes {who.changes:>5}  "
                     f"patients {len(who.patients):>5}")
    lines += ["", "per patient:"]
    for whom in review.patients:
        actors = sorted(whom.actors)
        shown = ", ".join(actors[:5]) + (f" and {len(actors) - 5} more" if len(actors) > 5 else "")
        lines.append(f"  {whom.label:<32} reads {whom.reads:>5}  changes {whom.changes:>5}  "
                     f"by {shown}")
    lines += ["", f"flags: {len(review.flags)}"]
    for flag in review.flags:
        kind = {"bulk_read": "BULK READ", "off_hours": "OFF HOURS"}.get(flag.kind, flag.kind)
        lines.append(f"  {kind:<9} {flag.actor}: {flag.text}")
    return "\n".join(lines)
