"""The identity lockout kept in the database: one count for every worker of the pool."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from ivr_flows.lockout import DatabaseLockout
from storage import lockouts
from storage.db import Database
from storage.models import IdentityLockout
from tests.flows.conftest import CAMILLE_PHONE, LOUIS_PHONE, NOW, Demo

NUMBER = "+33639980001"
OTHER = "+33639980002"


@pytest.fixture
def second_worker(db: Database) -> Iterator[Database]:
    """Another worker process's own connection pool on the same database."""
    other = Database(db.url)
    try:
        yield other
    finally:
        other.dispose()


def rows(db: Database) -> list[IdentityLockout]:
    with db.session() as session:
        return list(session.scalars(select(IdentityLockout)))


def test_six_failures_within_the_hour_lock_for_thirty_minutes(db: Database) -> None:
    lockout = DatabaseLockout(db)
    for minute in range(5):
        assert lockout.record_failure(NUMBER, NOW + timedelta(minutes=minute * 10)) is False
        assert not lockout.is_locked(NUMBER, NOW + timedelta(minutes=minute * 10))
    assert lockout.record_failure(NUMBER, NOW + timedelta(minutes=55)) is True
    assert lockout.is_locked(NUMBER, NOW + timedelta(minutes=56))
    assert lockout.is_locked(NUMBER, NOW + timedelta(minutes=84))
    assert not lockout.is_locked(OTHER, NOW + timedelta(minutes=56))
    assert not lockout.is_locked(NUMBER, NOW + timedelta(minutes=85))
    assert not lockout.is_locked(None, NOW) and lockout.record_failure("", NOW) is False


def test_failures_older_than_the_window_do_not_count(db: Database) -> None:
    lockout = DatabaseLockout(db)
    for minute in range(5):
        lockout.record_failure(NUMBER, NOW + timedelta(minutes=minute))
    # 61 minutes after the first failure a new window starts: 5 more do not lock.
    for minute in range(5):
        assert lockout.record_failure(NUMBER, NOW + timedelta(minutes=61 + minute)) is False
    assert not lockout.is_locked(NUMBER, NOW + timedelta(minutes=70))
    assert lockout.record_failure(NUMBER, NOW + timedelta(minutes=70)) is True


def test_verification_clears_the_failures_not_a_lock(db: Database) -> None:
    lockout = DatabaseLockout(db)
    for _ in range(5):
        lockout.record_failure(NUMBER, NOW)
    lockout.clear(NUMBER)
    for _ in range(5):
        assert lockout.record_failure(NUMBER, NOW) is False
    assert lockout.record_failure(NUMBER, NOW) is True
    lockout.clear(NUMBER)
    assert lockout.is_locked(NUMBER, NOW + timedelta(minutes=1))


def test_the_number_is_stored_only_as_a_keyed_hash(db: Database) -> None:
    DatabaseLockout(db).record_failure("06 39 98 00 01", NOW)
    (row,) = rows(db)
    assert row.number_hash == lockouts.number_hash(NUMBER)  # national and E.164 agree
    assert "39980001" not in row.number_hash and len(row.number_hash) == 32
    assert row.failures == 1


def test_two_workers_share_one_count(db: Database, second_worker: Database) -> None:
    worker_a, worker_b = DatabaseLockout(db), DatabaseLockout(second_worker)
    for attempt in range(5):
        worker = worker_a if attempt % 2 else worker_b
        assert worker.record_failure(NUMBER, NOW + timedelta(minutes=attempt)) is False
    assert worker_a.record_failure(NUMBER, NOW + timedelta(minutes=6)) is True
    assert worker_b.is_locked(NUMBER, NOW + timedelta(minutes=7))
    assert worker_a.is_locked(NUMBER, NOW + timedelta(minutes=7))


def test_concurrent_failures_from_two_workers_are_all_counted(
    db: Database, second_worker: Database
) -> None:
    """12 failures at once from 4 threads over 2 pools: exactly two locks (6 + 6)."""
    workers = [DatabaseLockout(db), DatabaseLockout(second_worker)]
    locks: list[bool] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def fail_three(worker: DatabaseLockout) -> None:
        try:
            start.wait(timeout=10)
            for _ in range(3):
                locks.append(worker.record_failure(NUMBER, NOW))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=fail_three, args=(workers[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(locks) == [False] * 10 + [True] * 2
    assert workers[1].is_locked(NUMBER, NOW)


def test_stale_rows_are_purged(db: Database) -> None:
    lockout = DatabaseLockout(db)
    lockout.record_failure(OTHER, NOW)
    lockout.record_failure(NUMBER, NOW + timedelta(hours=2))
    assert [r.number_hash for r in rows(db)] == [lockouts.number_hash(NUMBER)]


def test_database_down_counts_in_the_process(caplog: pytest.LogCaptureFixture) -> None:
    down = Database("postgresql+psycopg://telesec@127.0.0.1:9/none?connect_timeout=2")
    try:
        lockout = DatabaseLockout(down)
        with caplog.at_level(logging.WARNING, logger="ivr_flows.lockout"):
            results = [lockout.record_failure(NUMBER, NOW) for _ in range(6)]
            assert lockout.is_locked(NUMBER, NOW + timedelta(minutes=1))
        assert results == [False] * 5 + [True]
        warnings = [r for r in caplog.records if r.name == "ivr_flows.lockout"]
        assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
        assert "39980001" not in caplog.text
    finally:
        down.dispose()


def test_calls_on_two_workers_lock_the_number(demo_any: Demo) -> None:
    """The default flow (2 tries a call): 4 wrong tries on worker A, 2 on worker B (the
    sixth locks), then locked on A too."""
    demo = demo_any
    other_pool = Database(demo.db.url)
    try:
        clock = lambda: demo.clock_at[0]  # noqa: E731
        worker_a = DatabaseLockout(demo.db, clock=clock)
        worker_b = DatabaseLockout(other_pool, clock=clock)
        wrong = ["le 1er janvier 1990", "Dupont"] * 2
        file = ["#1", "", "#2"]  # French, recorded, "cancel": identity comes next
        demo.lockout = worker_a  # type: ignore[assignment]
        for _ in range(2):
            assert demo.call(*file, *wrong).report.outcome_of("identify_file") == "failed"
        demo.lockout = worker_b  # type: ignore[assignment]
        assert demo.call(*file, *wrong).report.outcome_of("identify_file") == "locked"
        demo.lockout = worker_a  # type: ignore[assignment]
        third = demo.call(*file, "le 12 mars 1984", caller=CAMILLE_PHONE)
        assert third.report.outcome_of("identify_file") == "locked"
        assert not {"ask_birth_date", "ask_birth_date_keys"} & set(third.said)
        other = demo.call(*file, "le 2 novembre 1951", caller=LOUIS_PHONE)
        assert other.report.outcome_of("identify_file") == "verified"
        later = demo.call(*file, "le 12 mars 1984", at=NOW + timedelta(minutes=45))
        assert later.report.outcome_of("identify_file") == "verified"
    finally:
        other_pool.dispose()
