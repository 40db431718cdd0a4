"""No double booking, guaranteed by the database: concurrent workers race for one slot.

Each worker is a thread with its own connection and session; they are released
together by a barrier, and the database alone decides who wins.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, select

from scheduling.service import Agenda
from scheduling.values import Booked, Held, Reason, Refused, Slot
from storage import audit
from storage.db import Database
from storage.identity import cipher
from storage.models import Appointment, AppointmentStatus, AuditEvent
from storage.patients import PatientDirectory
from tests.scheduling.conftest import IVR, NOW, STAFF, Practice

WORKERS = 16
TTL = timedelta(minutes=3)


def race(database_url: str, jobs: list[Callable[[Agenda], object]]) -> list[object]:
    db = Database(database_url, pool_size=len(jobs), max_overflow=0)
    agenda = Agenda(db)
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[Agenda], object]) -> object:
        barrier.wait()
        return job(agenda)

    try:
        with ThreadPoolExecutor(len(jobs)) as pool:
            return list(pool.map(run, jobs))
    finally:
        db.dispose()


def hold_and_confirm(slot: Slot, patient_id: int, key: str) -> Callable[[Agenda], object]:
    def job(agenda: Agenda) -> object:
        held = agenda.hold(slot, TTL, now=NOW, actor=IVR)
        if isinstance(held, Refused):
            return held
        assert isinstance(held, Held)
        return agenda.confirm(held.hold.id, patient_id, key, now=NOW, actor=IVR)

    return job


def booked_count(db: Database) -> int:
    with db.session() as session:
        return session.scalar(
            select(func.count()).select_from(Appointment).where(
                Appointment.status == AppointmentStatus.BOOKED, Appointment.starts_at > NOW
            )
        )


def patients(practice: Practice, count: int) -> list[int]:
    from datetime import date

    with practice.db.session() as session:
        directory = PatientDirectory(session)
        return [
            directory.add(practice.id, first_name=f"P{i}", last_name="Course",
                          birth_date=date(1970, 1, 1 + i), actor=STAFF).id
            for i in range(count)
        ]


def test_sixteen_workers_race_for_one_slot_and_exactly_one_wins(
    practice: Practice, database_url: str
) -> None:
    found = practice.agenda.find_slots(practice.id, "premiere", practitioner="dr-a", now=NOW)
    assert isinstance(found, list)
    slot = found[0]
    racers = patients(practice, WORKERS)
    results = race(database_url, [
        hold_and_confirm(slot, patient, f"race-{i}") for i, patient in enumerate(racers)
    ])
    winners = [r for r in results if isinstance(r, Booked)]
    losers = [r for r in results if isinstance(r, Refused)]
    assert len(winners) == 1, results
    assert len(losers) == WORKERS - 1
    assert {r.reason for r in losers} == {Reason.SLOT_TAKEN}
    assert booked_count(practice.db) == 1


def test_same_idempotency_key_from_sixteen_workers_books_once(
    practice: Practice, database_url: str
) -> None:
    slot = practice.agenda.find_slots(practice.id, "consultation", now=NOW)[0]
    held = practice.agenda.hold(slot, TTL, now=NOW, actor=IVR)
    assert isinstance(held, Held)

    def confirm(agenda: Agenda) -> object:
        return agenda.confirm(held.hold.id, practice.known_patient, "same-call", now=NOW,
                              actor=IVR)

    results = race(database_url, [confirm] * WORKERS)
    assert all(isinstance(r, Booked) for r in results), results
    assert len({r.appointment.id for r in results}) == 1
    assert booked_count(practice.db) == 1
    with practice.db.session() as session:  # one booking, one audit event, chain intact
        booked_events = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "appointment.book"))
        assert booked_events == 1
        assert audit.verify(session, cipher().keyring).intact


def test_overlapping_visits_of_different_lengths_cannot_both_be_booked(
    practice: Practice, database_url: str
) -> None:
    """20-minute and 30-minute visits that overlap by 10 minutes race: one wins."""
    twenty = practice.agenda.find_slots(
        practice.id, "consultation", practitioner="dr-b", now=NOW
    )[0]
    thirty_start = twenty.starts_at + timedelta(minutes=10)
    thirty = replace(twenty, visit_type_code="premiere", starts_at=thirty_start,
                     ends_at=thirty_start + timedelta(minutes=30))
    racers = patients(practice, WORKERS)
    jobs = [
        hold_and_confirm(twenty if i % 2 else thirty, practice.known_patient if i % 2 else p,
                         f"overlap-{i}")
        for i, p in enumerate(racers)
    ]
    results = race(database_url, jobs)
    winners = [r for r in results if isinstance(r, Booked)]
    assert len(winners) == 1, results
    assert all(r.reason is Reason.SLOT_TAKEN for r in results if isinstance(r, Refused))
    assert booked_count(practice.db) == 1
