"""Agenda benchmark: slot search and booking throughput and latency, SQLite and PostgreSQL.

Builds a practice of 10 practitioners with a year of opening hours and N appointments
(bulk insert), then for S seconds each runs slot searches (random day, practitioner,
part of day) and bookings (search, hold, confirm). Prints one table. With ``--baseline
REV`` the code of git revision REV (exported to a temporary directory) runs too, each
tree in its own process against its own database, rounds alternating, side by side.

    .venv/bin/python bench/agenda.py                       # 30,000 appointments, 10 s each
    .venv/bin/python bench/agenda.py --baseline main --rounds 2 --seconds 5
    .venv/bin/python bench/agenda.py --appointments 300 --seconds 1   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text

# the code measured: this tree, or the baseline's exported tree (set by the parent run)
sys.path.insert(0, os.environ.get("TELESEC_BENCH_TREE", str(Path(__file__).resolve().parents[1])))

from scheduling import lookup
from scheduling.history import PastOrImportedVisit, record_appointments
from scheduling.practices import apply_practice, parse_practice
from scheduling.service import Agenda
from scheduling.slots import WeeklyOpening, windows_on
from scheduling.values import Booked, Held
from storage.db import Database
from storage.identity import install
from storage.keyring import Keyring
from storage.migrate import upgrade
from storage.patients import PatientDirectory

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PARIS = ZoneInfo("Europe/Paris")
PRACTITIONERS = 10
PATIENTS = 200
VISIT_MINUTES = 20
BENCH = "system:bench"  # every change is audited, as in production
WEEKDAY_SPANS = ["08:00-12:00", "14:00-19:00"]


@dataclass
class Figures:
    database: str
    operation: str
    count: int
    seconds: float
    latencies: list[float]
    note: str = ""

    def row(self, code: str | None = None) -> str:
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000 if ordered else 0.0
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else 0.0
        rate = self.count / self.seconds if self.seconds else 0.0
        which = "" if code is None else f" {code:<16} |"
        return (
            f"| {self.database:<10} |{which} {self.operation:<22} | {rate:>9.1f} | "
            f"{p50:>8.2f} | {p99:>8.2f} | {self.count:>7} | {self.note}"
        )


def definition() -> dict:
    opening = {day: WEEKDAY_SPANS for day in ("mon", "tue", "wed", "thu", "fri")}
    return {
        "slug": "bench",
        "name": "Benchmark practice",
        "timezone": "Europe/Paris",
        "visit_types": [
            {"code": "consultation", "label": "Consultation", "minutes": VISIT_MINUTES,
             "min_book_notice_minutes": 0, "min_cancel_notice_minutes": 0},
        ],
        "practitioners": [
            {"slug": f"dr-{i:02d}", "name": f"Docteur {i:02d}",
             "opening": {**opening, **({"sat": ["08:00-12:00"]} if i % 2 else {})}}
            for i in range(PRACTITIONERS)
        ],
    }


def build(db: Database, appointments: int, start: date, rng: random.Random) -> tuple[int, float]:
    """The practice, its patients and ``appointments`` visits over a year; returns (id, s)."""
    began = time.perf_counter()
    with db.session() as session:
        place = apply_practice(session, parse_practice(definition()), actor=BENCH)
        kind = lookup.visit_type(session, place.id, "consultation")
        directory = PatientDirectory(session)
        patients = [
            directory.add(place.id, first_name=f"P{i}", last_name="Bench",
                          birth_date=date(1950, 1, 1) + timedelta(days=97 * i), actor=BENCH).id
            for i in range(PATIENTS)
        ]
        people = [lookup.practitioner(session, place.id, f"dr-{i:02d}") for i in range(10)]
        openings = [
            WeeklyOpening(o.practitioner_id, o.weekday, o.start_time, o.end_time)
            for p in people for o in p.opening
        ]
        place_id, kind_id = place.id, kind.id
    duration = timedelta(minutes=VISIT_MINUTES)
    candidates = []
    for offset in range(365):
        for window in windows_on(start + timedelta(days=offset), openings, PARIS):
            moment = window.starts_at
            while moment + duration <= window.ends_at:
                candidates.append((window.practitioner_id, moment))
                moment += duration
    chosen = rng.sample(candidates, min(appointments, len(candidates)))
    visits = [
        PastOrImportedVisit(place_id, person, rng.choice(patients), kind_id, moment,
                            moment + duration)
        for person, moment in chosen
    ]
    for first in range(0, len(visits), 5000):
        with db.session() as session:
            record_appointments(session, visits[first:first + 5000], actor=BENCH)
    return place_id, time.perf_counter() - began


def measure(seconds: float, step: Callable[[], bool]) -> tuple[int, float, list[float], int]:
    """Run ``step`` for ``seconds``; returns (successes, elapsed, latencies, failures)."""
    latencies: list[float] = []
    failures = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        t0 = time.perf_counter()
        ok = step()
        latencies.append(time.perf_counter() - t0)
        failures += not ok
    return len(latencies) - failures, time.perf_counter() - began, latencies, failures


def run(name: str, url: str, appointments: int, seconds: float) -> list[Figures]:
    rng = random.Random(7)
    upgrade(url)
    db = Database(url)
    try:
        start = datetime.now(UTC).astimezone(PARIS).date() + timedelta(days=1)
        now = datetime.combine(start, datetime.min.time(), PARIS).astimezone(UTC)
        practice_id, built = build(db, appointments, start, rng)
        agenda = Agenda(db)
        people = [f"dr-{i:02d}" for i in range(PRACTITIONERS)]
        with db.session() as session:
            patients = [p.id for p in PatientDirectory(session).find_by_name(practice_id, "Bench")]

        def random_after() -> datetime:
            return now + timedelta(days=rng.randrange(360), hours=rng.randrange(24))

        def search() -> bool:
            found = agenda.find_slots(
                practice_id, "consultation", practitioner=rng.choice([None, *people]),
                part_of_day=rng.choice([None, "morning", "afternoon"]), after=random_after(),
                limit=3, now=now,
            )
            return isinstance(found, list) and bool(found)

        booked_keys = iter(uuid.uuid4().hex for _ in iter(int, 1))
        book_latencies: list[float] = []

        def book() -> bool:
            found = agenda.find_slots(practice_id, "consultation", after=random_after(),
                                      limit=1, now=now)
            if not isinstance(found, list) or not found:
                return False
            t0 = time.perf_counter()
            held = agenda.hold(found[0], timedelta(minutes=3), now=now, actor=BENCH)
            result = (
                agenda.confirm(held.hold.id, rng.choice(patients), next(booked_keys), now=now,
                               actor=BENCH)
                if isinstance(held, Held) else held
            )
            book_latencies.append(time.perf_counter() - t0)
            return isinstance(result, Booked)

        figures = [Figures(name, f"build ({appointments} appts)", 1, built, [built])]
        count, elapsed, latencies, failed = measure(seconds, search)
        figures.append(Figures(name, "slot search (limit 3)", count, elapsed, latencies,
                               f"{failed} empty" if failed else ""))
        count, elapsed, latencies, failed = measure(seconds, book)
        figures.append(Figures(name, "search+hold+confirm", count, elapsed, latencies,
                               f"{failed} refused" if failed else ""))
        figures.append(Figures(name, "hold+confirm only", count, elapsed, book_latencies,
                               "latency of the two writes"))
        return figures
    finally:
        db.dispose()


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/bench.db"


@contextmanager
def postgres_url(admin_url: str) -> Iterator[str]:
    name = f"telesec_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _in_tree(tree: Path, database: str, args: argparse.Namespace) -> list[Figures]:
    """This script run on the code of ``tree`` in its own process, for one database."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--json", "--databases", database,
         "--appointments", str(args.appointments), "--seconds", str(args.seconds),
         "--pg-url", args.pg_url],
        cwd=tree, env={**os.environ, "TELESEC_BENCH_TREE": str(tree)},
        capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"run failed in {tree}:\n{done.stderr[-3000:]}")
    return [Figures(**item) for item in json.loads(done.stdout.strip().splitlines()[-1])]


def _measure(args: argparse.Namespace) -> list[Figures]:
    with tempfile.TemporaryDirectory() as keys:
        install(Keyring.create(Path(keys) / "keyring.json"))
        results: list[Figures] = []
        for name in args.databases.split(","):
            opener = sqlite_url() if name == "sqlite" else postgres_url(args.pg_url)
            with opener as url:
                results.extend(run(name, url, args.appointments, args.seconds))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appointments", type=int, default=30_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL, help="admin URL of a PostgreSQL server")
    parser.add_argument("--baseline", help="git revision to measure side by side (e.g. main)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="with --baseline: alternate the two trees this many times")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps([asdict(f) for f in _measure(args)]))
        return
    rows: list[tuple[str | None, Figures]] = []
    if args.baseline:
        # imported here: other scripts load this file for its practice (booking_pg.py,
        # calendars.py), not always with this directory on their path
        from baseline_tree import export

        trees = [(f"baseline {args.baseline}"[:16], export(args.baseline)),
                 ("this tree", REPO)]
        for name in args.databases.split(","):
            for code, tree in trees * args.rounds:
                rows.extend((code, f) for f in _in_tree(tree, name, args))
    else:
        rows.extend((None, f) for f in _measure(args))
    code_head = f" {'code':<16} |" if args.baseline else ""
    code_rule = f"{'-' * 18}|" if args.baseline else ""
    print(f"\nagenda benchmark: {PRACTITIONERS} practitioners, a year of opening hours, "
          f"{args.appointments} appointments, {args.seconds:g} s per measure, one client; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"| {'database':<10} |{code_head} {'operation':<22} | {'per s':>9} | {'p50 ms':>8} | "
          f"{'p99 ms':>8} | {'count':>7} | note")
    print(f"|{'-' * 12}|{code_rule}{'-' * 24}|{'-' * 11}|{'-' * 10}|{'-' * 10}|{'-' * 9}|------")
    for code, figures in rows:
        print(figures.row(code))


if __name__ == "__main__":
    main()
