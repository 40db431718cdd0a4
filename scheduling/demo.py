"""The demo practice: two doctors, visit types, opening hours, fictional patients and visits.

Seeding is idempotent: the practice is applied by slug, patients are found by code and
appointments by idempotency key, so seeding twice adds nothing. All data is fictional;
phone numbers are in the ranges ARCEP reserves for fiction (01 99 00…, 06 39 98…).
Every change is audited under the actor ``system:demo-seed`` (a second seed writes
nothing, since it changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduling import lookup
from scheduling.history import PastOrImportedVisit, record_appointments
from scheduling.practices import apply_practice, load_practice_file
from scheduling.service import Agenda
from scheduling.values import Booked, Channel
from storage.db import Database
from storage.models import Appointment
from storage.patients import PatientDirectory

DEMO_FILE = Path(__file__).with_name("demo_practice.yaml")
DEMO_SLUG = "demo"
SEED_ACTOR = "system:demo-seed"
SEED_PURPOSE = "demo data for trying Telesec"

# (code, first name, last name, birth date); phone +33 6 39 98 00 NN
DEMO_PATIENTS = [
    ("100001", "Camille", "Rousseau", date(1984, 3, 12)),
    ("100002", "Louis", "Garnier", date(1951, 11, 2)),
    ("100003", "Inès", "Faure", date(1993, 7, 25)),
    ("100004", "Hugo", "Chevalier", date(2012, 1, 30)),
    ("100005", "Léa", "Marchand", date(1978, 5, 8)),
    ("100006", "Nathan", "Perrin", date(1965, 9, 17)),
    ("100007", "Chloé", "Blanchard", date(2001, 12, 3)),
    ("100008", "Gabriel", "Lemaire", date(1942, 4, 21)),
    ("100009", "Manon", "Renaud", date(1989, 8, 14)),
    ("100010", "Jules", "Aubert", date(1997, 2, 9)),
    ("100011", "Zoé", "Collin", date(2018, 6, 1)),
    ("100012", "Arthur", "Vidal", date(1958, 10, 28)),
]
KNOWN_PATIENTS = 8  # the first eight have been seen before; the last four are new
UPCOMING = 4


@dataclass(frozen=True, slots=True)
class SeedReport:
    practice_id: int
    patients_added: int
    appointments_added: int


def seed_demo(
    db: Database, now: datetime | None = None, *, actor: str = SEED_ACTOR
) -> SeedReport:
    """Create or refresh the demo practice and its fictional patients and appointments."""
    now = datetime.now(UTC) if now is None else now
    definition = load_practice_file(DEMO_FILE)
    who = {"actor": actor, "purpose": SEED_PURPOSE}
    with db.session() as session:
        place = apply_practice(session, definition, **who)
        practice_id, zone = place.id, ZoneInfo(place.timezone)
        directory = PatientDirectory(session)
        patient_ids, added = [], 0
        for number, (code, first, last, born) in enumerate(DEMO_PATIENTS, start=1):
            record = directory.by_code(practice_id, code)
            if record is None:
                record = directory.add(
                    practice_id,
                    first_name=first,
                    last_name=last,
                    birth_date=born,
                    phone=f"+336399800{number:02d}",
                    code=code,
                    **who,
                )
                added += 1
            patient_ids.append(record.id)
        history = _past_visits(session, practice_id, zone, patient_ids[:KNOWN_PATIENTS], now)
        record_appointments(session, history, **who)
    booked = _upcoming_visits(Agenda(db), practice_id, patient_ids[:UPCOMING], now, actor)
    return SeedReport(practice_id, added, len(history) + booked)


def _past_visits(
    session: Session, practice_id: int, zone: ZoneInfo, patient_ids: list[int], now: datetime
) -> list[PastOrImportedVisit]:
    kind = lookup.visit_type(session, practice_id, "consultation")
    doctors = [lookup.practitioner(session, practice_id, s) for s in ("dr-lambert", "dr-moreau")]
    keys = set(
        session.scalars(
            select(Appointment.idempotency_key).where(
                Appointment.idempotency_key.like("demo-past-%")
            )
        )
    )
    today = now.astimezone(zone).date()
    last_monday = today - timedelta(days=today.weekday() + 7)
    visits = []
    for index, patient_id in enumerate(patient_ids):
        key = f"demo-past-{index + 1}"
        if key in keys:
            continue
        day = last_monday - timedelta(weeks=index // 2)
        start = datetime.combine(day, time(9, 0), zone) + timedelta(minutes=20 * (index % 2))
        visits.append(
            PastOrImportedVisit(
                practice_id=practice_id,
                practitioner_id=doctors[index % 2].id,
                patient_id=patient_id,
                visit_type_id=kind.id,
                starts_at=start.astimezone(UTC),
                ends_at=(start + timedelta(minutes=kind.duration_minutes)).astimezone(UTC),
                idempotency_key=key,
                booked_by="demo",
            )
        )
    return visits


def _upcoming_visits(
    agenda: Agenda, practice_id: int, patient_ids: list[int], now: datetime, actor: str
) -> int:
    booked = 0
    for index, patient_id in enumerate(patient_ids):
        key = f"demo-upcoming-{index + 1}"
        if agenda.key_used(key):
            continue
        slots = agenda.find_slots(
            practice_id,
            "consultation",
            practitioner=("dr-lambert", "dr-moreau")[index % 2],
            after=now + timedelta(days=1 + index),
            limit=1,
            now=now,
            by=Channel.STAFF,
        )
        if isinstance(slots, list) and slots:
            result = agenda.book(
                slots[0], patient_id, key, actor=actor, purpose=SEED_PURPOSE, now=now,
                by=Channel.STAFF,
            )
            booked += isinstance(result, Booked)
    return booked
