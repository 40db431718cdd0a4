"""A small practice for the agenda tests, on each database of the ``db`` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scheduling import lookup
from scheduling.history import PastOrImportedVisit, record_appointments
from scheduling.practices import apply_practice, parse_practice
from scheduling.service import Agenda
from storage import models
from storage.db import Database
from storage.identity import install, uninstall
from storage.keyring import Keyring
from storage.models import (
    Appointment,
    Hold,
    OpeningTemplate,
    Patient,
    Practitioner,
    ScheduleException,
    SlotCell,
    VisitType,
)
from storage.patients import PatientDirectory

# Monday 7 January 2030, 07:00 in Paris.
NOW = datetime(2030, 1, 7, 6, 0, tzinfo=UTC)

# Who acts in the tests (every change and patient read is audited).
IVR = "ivr:test-call"
STAFF = "staff:test-admin"
READ = {"actor": "staff:test-reader", "purpose": "check the test's result"}

PRACTICE = {
    "slug": "tilleuls",
    "name": "Cabinet de test",
    "timezone": "Europe/Paris",
    "phone_number": "+33199000001",
    "visit_types": [
        {"code": "consultation", "label": "Consultation", "minutes": 20,
         "new_patients_allowed": False},
        {"code": "premiere", "label": "Première consultation", "minutes": 30},
        {"code": "chirurgie", "label": "Petite chirurgie", "minutes": 45,
         "phone_bookable": False},
    ],
    "practitioners": [
        {"slug": "dr-a", "name": "Docteure A",
         "opening": {d: ["09:00-12:00", "14:00-18:00"]
                     for d in ("mon", "tue", "wed", "thu", "fri", "sat")}},
        {"slug": "dr-b", "name": "Docteur B",
         "opening": {d: ["09:00-12:30"] for d in ("mon", "tue", "wed", "thu", "fri")}},
    ],
}


@dataclass(frozen=True)
class Practice:
    db: Database
    agenda: Agenda
    id: int
    dr_a: int
    dr_b: int
    known_patient: int  # seen before: may book a consultation
    new_patient: int  # never seen: only a première consultation
    other_patient: int


@pytest.fixture(autouse=True)
def identity_keys(tmp_path: Path) -> Iterator[None]:
    install(Keyring.create(tmp_path / "keyring.json"))
    yield
    uninstall()


def build_practice(db: Database, definition: dict | None = None) -> Practice:
    with db.session() as session:
        place = apply_practice(session, parse_practice(definition or PRACTICE), actor=STAFF)
        directory = PatientDirectory(session)
        known = directory.add(place.id, first_name="Alice", last_name="Connue",
                              birth_date=date(1980, 1, 1), phone="0639980001", actor=STAFF)
        new = directory.add(place.id, first_name="Bruno", last_name="Nouveau",
                            birth_date=date(1990, 2, 2), phone="0639980002", actor=STAFF)
        other = directory.add(place.id, first_name="Chloé", last_name="Autre",
                              birth_date=date(2000, 3, 3), phone="0639980003", actor=STAFF)
        dr_a = lookup.practitioner(session, place.id, "dr-a").id
        dr_b = lookup.practitioner(session, place.id, "dr-b").id
        consultation = lookup.visit_type(session, place.id, "consultation")
        seen = NOW - timedelta(days=30)
        record_appointments(session, [
            PastOrImportedVisit(place.id, dr_a, known.id, consultation.id, seen,
                                seen + timedelta(minutes=20)),
            PastOrImportedVisit(place.id, dr_a, other.id, consultation.id,
                                seen + timedelta(minutes=20), seen + timedelta(minutes=40)),
        ], actor=STAFF)
        practice_id = place.id
    return Practice(db, Agenda(db), practice_id, dr_a, dr_b, known.id, new.id, other.id)


@pytest.fixture
def practice(db: Database) -> Practice:
    return build_practice(db)


def table_counts(db: Database) -> dict[str, int]:
    """Rows per agenda table, to show that a refused change left the database unchanged."""
    with db.session() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (models.Practice, Practitioner, VisitType, OpeningTemplate,
                          ScheduleException, Appointment, Hold, SlotCell, Patient)
        }
