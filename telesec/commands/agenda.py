"""``telesec agenda ...``: look at and change the agenda from a terminal (operators).

Operators act as staff: notice periods and the phone-only rules do not apply, the
other rules do. A refusal is printed as one line and the command exits with status 1.
Every change and every read of a patient's data is audited as ``cli:<unix user>``.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import typer

from foundation.errors import TelesecError
from foundation.settings import load_settings
from scheduling.errors import SchedulingError
from scheduling.service import Agenda
from scheduling.values import AppointmentView, Channel, PartOfDay, Refused, Slot
from storage import audit
from storage.db import Database
from storage.patients import PatientDirectory, UnknownPatient
from telesec.wiring import open_database, open_keyring

app = typer.Typer(help="Slots and appointments of a practice.", no_args_is_help=True)

PURPOSE = "operator work on the agenda from the command line"


def cli_actor() -> str:
    """``cli:<unix user>``: who the audit trail names for this command."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = f"uid-{os.getuid()}"
    return f"cli:{user or f'uid-{os.getuid()}'}"


@contextmanager
def opened_database(*, keys: bool = False) -> Iterator[Database]:
    """The configured database, with the keyring loaded when ``keys`` (patient identity,
    the audit trail's keys); the agenda's typed errors become one-line errors for people."""
    settings = load_settings()
    db = open_database(settings)
    try:
        if keys:
            open_keyring(settings)
        yield db
    except (SchedulingError, UnknownPatient) as exc:
        raise TelesecError(str(exc)) from None
    finally:
        db.dispose()


@contextmanager
def open_agenda(*, identity: bool = False) -> Iterator[tuple[Agenda, Database]]:
    """The configured agenda (see :func:`opened_database`)."""
    with opened_database(keys=identity) as db:
        yield Agenda(db), db


def refuse(refusal: Refused) -> None:
    typer.echo(f"refused: {refusal.reason.value}: {refusal.detail}", err=True)
    raise typer.Exit(1)


def _parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise TelesecError(f"--day {text!r}: give a date as YYYY-MM-DD") from None


def _slot_line(slot: Slot) -> str:
    local = slot.local_start
    return (
        f"{local:%Y-%m-%d %H:%M} {local:%a}  {slot.visit_type_code}  "
        f"{slot.practitioner_name}  (--slot-start {local:%Y-%m-%dT%H:%M})"
    )


def _appointment_line(view: AppointmentView, patient_code: str) -> str:
    local = view.local_start
    return (
        f"#{view.id}  {local:%Y-%m-%d %H:%M}  {view.visit_type_code}  "
        f"{view.practitioner_name}  patient {patient_code}  {view.status}"
    )


@app.command("slots")
def slots(
    practice: str = typer.Option(..., help="Practice slug."),
    visit: str = typer.Option(..., help="Visit type code."),
    doctor: str | None = typer.Option(None, help="Practitioner slug."),
    day: str | None = typer.Option(None, help="Local date, YYYY-MM-DD."),
    part: PartOfDay | None = typer.Option(None, help="morning or afternoon."),
    limit: int = typer.Option(5, min=1, max=100),
) -> None:
    """The next free slots for a visit type."""
    with open_agenda() as (agenda, _db):
        found = agenda.find_slots(
            practice,
            visit,
            practitioner=doctor,
            day=_parse_day(day),
            part_of_day=part,
            limit=limit,
            by=Channel.STAFF,
        )
    if isinstance(found, Refused):
        refuse(found)
        return
    if not found:
        typer.echo("no free slot")
        raise typer.Exit(1)
    for slot in found:
        typer.echo(_slot_line(slot))


@app.command("book")
def book(
    practice: str = typer.Option(..., help="Practice slug."),
    slot_start: str = typer.Option(
        ..., help="Start, YYYY-MM-DDTHH:MM in the practice's time, or with an offset."
    ),
    doctor: str = typer.Option(..., help="Practitioner slug."),
    visit: str = typer.Option(..., help="Visit type code."),
    patient: str = typer.Option(..., help="Patient code."),
    key: str | None = typer.Option(None, help="Idempotency key (the same key books once)."),
) -> None:
    """Book an appointment for a patient."""
    with open_agenda(identity=True) as (agenda, db):
        info = agenda.practice_info(practice)
        starts_at = _parse_start(slot_start, ZoneInfo(info.timezone))
        kind = next((k for k in info.visit_types if k.code == visit), None)
        person = next((p for p in info.practitioners if p.slug == doctor), None)
        if kind is None:
            raise TelesecError(f"no visit type {visit!r} in {practice}")
        if person is None:
            raise TelesecError(f"no practitioner {doctor!r} in {practice}")
        with db.session() as session:
            record = PatientDirectory(session).by_code(info.id, patient)
            if record is not None:
                audit.record(session, actor=cli_actor(), action="patient.lookup",
                             object_type="patient", object_id=None, purpose=PURPOSE,
                             patient_id=record.id, practice_id=info.id, detail={"by": "code"})
        if record is None:
            raise TelesecError(f"no patient with code {patient!r} in {practice}")
        slot = Slot(
            practice_id=info.id,
            practitioner_id=person.id,
            practitioner_name=person.name,
            visit_type_code=kind.code,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=kind.duration_minutes),
            timezone=info.timezone,
        )
        idempotency_key = key or f"cli-{info.id}-{person.id}-{record.id}-{starts_at:%Y%m%d%H%M}"
        result = agenda.book(
            slot, record.id, idempotency_key, actor=cli_actor(), purpose=PURPOSE, by=Channel.STAFF
        )
    if isinstance(result, Refused):
        refuse(result)
        return
    typer.echo("booked " + _appointment_line(result.appointment, patient))


@app.command("cancel")
def cancel(appointment_id: int = typer.Argument(..., help="Appointment number.")) -> None:
    """Cancel an appointment and free its time."""
    with open_agenda(identity=True) as (agenda, _db):
        result = agenda.cancel(
            appointment_id, actor=cli_actor(), purpose=PURPOSE, by=Channel.STAFF
        )
    if isinstance(result, Refused):
        refuse(result)
        return
    local = result.appointment.local_start
    typer.echo(f"cancelled #{appointment_id} ({local:%Y-%m-%d %H:%M})")


@app.command("list")
def list_appointments(
    practice: str = typer.Option(..., help="Practice slug."),
    day: str | None = typer.Option(None, help="Local date, YYYY-MM-DD (default: today)."),
    doctor: str | None = typer.Option(None, help="Practitioner slug."),
) -> None:
    """The booked appointments of a day (each patient listed is an audited read)."""
    with open_agenda(identity=True) as (agenda, db):
        zone = ZoneInfo(agenda.practice_info(practice).timezone)
        wanted = _parse_day(day) or datetime.now(UTC).astimezone(zone).date()
        views = agenda.day_list(practice, wanted, practitioner=doctor)
        with db.session() as session:
            directory = PatientDirectory(session)
            codes = {v.patient_id: directory.get(v.patient_id).code for v in views}
            for patient_id in codes:
                audit.record(
                    session, actor=cli_actor(), action="appointment.list", object_type="patient",
                    object_id=None, purpose=PURPOSE, patient_id=patient_id,
                    practice_id=views[0].practice_id,
                    detail={"day": wanted.isoformat(),
                            "appointments": sum(v.patient_id == patient_id for v in views)},
                )
    if not views:
        typer.echo(f"no appointment on {wanted}")
        return
    for view in views:
        typer.echo(_appointment_line(view, codes[view.patient_id]))


def _parse_start(text: str, zone: ZoneInfo) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TelesecError(
            f"--slot-start {text!r}: give YYYY-MM-DDTHH:MM (practice time) or an ISO instant"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)
