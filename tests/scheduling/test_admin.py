"""Bad administrative input: a clear, typed error, and the database left unchanged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from scheduling.demo import DEMO_FILE, seed_demo
from scheduling.errors import (
    OverlappingException,
    PracticeConfigError,
    SchedulingError,
    UnknownPractice,
    UnknownPractitioner,
)
from scheduling.practices import (
    add_closure,
    add_practitioner,
    add_visit_type,
    apply_practice,
    load_practice_file,
    parse_practice,
    set_weekly_opening,
)
from storage.db import Database
from storage.models import ExceptionKind
from tests.scheduling.conftest import NOW, PRACTICE, STAFF, Practice, table_counts

PARIS = ZoneInfo("Europe/Paris")
TUESDAY = datetime(2030, 1, 8, tzinfo=PARIS)


def refused_unchanged(
    db: Database, error: type[Exception], change: Callable[[Session], object],
    match: str | None = None,
) -> str:
    """Run ``change`` in one transaction: it must fail with ``error`` and change nothing."""
    before = table_counts(db)
    with pytest.raises(error, match=match) as caught, db.session() as session:
        change(session)
    assert table_counts(db) == before
    message = str(caught.value)
    assert message and "\n" not in message
    return message


def test_overlapping_and_past_closures_are_refused(practice: Practice) -> None:
    db = practice.db
    with db.session() as session:
        add_closure(session, practice.id, ExceptionKind.ABSENCE, TUESDAY,
                    TUESDAY + timedelta(days=2), practitioner="dr-a", now=NOW, actor=STAFF)
    refused_unchanged(db, OverlappingException, lambda s: add_closure(
        s, practice.id, ExceptionKind.BLOCKED, TUESDAY + timedelta(hours=10),
        TUESDAY + timedelta(hours=11), practitioner="dr-a", now=NOW, actor=STAFF), "overlaps")

    def valid_then_overlapping(session: Session) -> None:
        # a practice holiday may cover a practitioner's absence; then one more absence
        # overlaps both: the whole transaction, valid part included, is rolled back
        add_closure(session, practice.id, ExceptionKind.HOLIDAY, TUESDAY - timedelta(hours=1),
                    TUESDAY + timedelta(hours=1), now=NOW, actor=STAFF)
        add_closure(session, practice.id, ExceptionKind.BLOCKED, TUESDAY,
                    TUESDAY + timedelta(hours=1), practitioner="dr-a", now=NOW, actor=STAFF)

    refused_unchanged(db, OverlappingException, valid_then_overlapping)
    refused_unchanged(db, SchedulingError, lambda s: add_closure(
        s, practice.id, ExceptionKind.HOLIDAY, NOW - timedelta(days=2), NOW - timedelta(days=1),
        now=NOW, actor=STAFF), "past")
    refused_unchanged(db, SchedulingError, lambda s: add_closure(
        s, practice.id, ExceptionKind.HOLIDAY, TUESDAY + timedelta(days=9),
        TUESDAY + timedelta(days=8), now=NOW, actor=STAFF))
    refused_unchanged(db, UnknownPractice, lambda s: add_closure(
        s, "nowhere", ExceptionKind.HOLIDAY, TUESDAY, TUESDAY + timedelta(days=1), now=NOW,
        actor=STAFF))
    refused_unchanged(db, UnknownPractitioner, lambda s: add_closure(
        s, practice.id, ExceptionKind.ABSENCE, TUESDAY + timedelta(days=20),
        TUESDAY + timedelta(days=21), practitioner="dr-nobody", now=NOW, actor=STAFF))
    # a different practitioner may be away at the same time
    with db.session() as session:
        add_closure(session, practice.id, ExceptionKind.ABSENCE, TUESDAY,
                    TUESDAY + timedelta(days=1), practitioner="dr-b", now=NOW, actor=STAFF)


def test_bad_practice_set_up_is_refused(practice: Practice) -> None:
    db = practice.db
    refused_unchanged(db, PracticeConfigError, lambda s: add_visit_type(
        s, practice.id, "odd", label="Odd", duration_minutes=7, actor=STAFF))
    refused_unchanged(db, PracticeConfigError, lambda s: add_visit_type(
        s, practice.id, "consultation", label="Again", duration_minutes=20, actor=STAFF))
    refused_unchanged(db, PracticeConfigError, lambda s: add_practitioner(
        s, practice.id, "dr-a", "Twin", actor=STAFF))
    refused_unchanged(db, PracticeConfigError, lambda s: set_weekly_opening(
        s, practice.dr_a, [(0, time(9), time(12)), (0, time(11), time(13))], actor=STAFF),
        "overlap")
    refused_unchanged(db, PracticeConfigError, lambda s: set_weekly_opening(
        s, practice.dr_a, [(0, time(9, 7), time(12))], actor=STAFF))
    refused_unchanged(db, PracticeConfigError, lambda s: apply_practice(
        s, parse_practice({**PRACTICE, "timezone": "Mars/Olympus"}), actor=STAFF))


def test_broken_practice_files_are_one_line_errors(tmp_path: Path) -> None:
    cases = {
        "syntax.yaml": "slug: demo\nname: [unclosed\n",
        "fields.yaml": "slug: Demo Practice\nname: x\npractitioners: []\nvisit_types: []\n",
        "opening.yaml": (
            "slug: demo\nname: x\nvisit_types: [{code: c, label: C, minutes: 20}]\n"
            "practitioners: [{slug: dr, name: Dr, opening: {mon: ['12:00-09:00']}}]\n"
        ),
        "weekday.yaml": (
            "slug: demo\nname: x\nvisit_types: [{code: c, label: C, minutes: 20}]\n"
            "practitioners: [{slug: dr, name: Dr, opening: {monday: ['09:00-12:00']}}]\n"
        ),
        "extra.yaml": (
            "slug: demo\nname: x\ncolour: red\nvisit_types: [{code: c, label: C, minutes: 20}]\n"
            "practitioners: [{slug: dr, name: Dr}]\n"
        ),
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(PracticeConfigError) as caught:
            load_practice_file(path)
        assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value), name
    with pytest.raises(PracticeConfigError, match="cannot be read"):
        load_practice_file(tmp_path / "missing.yaml")
    assert load_practice_file(DEMO_FILE).slug == "demo"


def test_applying_a_practice_twice_changes_nothing(practice: Practice) -> None:
    before = table_counts(practice.db)
    with practice.db.session() as session:
        apply_practice(session, parse_practice(PRACTICE), actor=STAFF)
    assert table_counts(practice.db) == before


def test_demo_seed_is_idempotent(db: Database) -> None:
    first = seed_demo(db, now=NOW)
    counts = table_counts(db)
    assert first.patients_added == 12 and first.appointments_added >= 10
    assert counts["practitioners"] == 2 and counts["visit_types"] >= 2
    second = seed_demo(db, now=NOW)
    assert (second.patients_added, second.appointments_added) == (0, 0)
    assert table_counts(db) == counts
