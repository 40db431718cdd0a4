"""Booking benchmark: search+hold+confirm under concurrent callers, before and after a change.

Each code tree (this one, and with ``--baseline REV`` the code of git revision REV exported
to a temporary directory) runs in its own worker process against its own fresh database:
the practice of ``bench/agenda.py`` (10 practitioners, a year of opening hours, N
appointments), then

- round trips: a few bookings one after the other, counting what each step sends to the
  database (statements, BEGIN, COMMIT/ROLLBACK, the pool's ping), from SQLAlchemy's events;
- load: C callers (threads, one connection each) booking for S seconds: search, hold,
  confirm; latency of the whole and of hold+confirm (the two audited writes);
- the audit chain afterwards: a signed checkpoint appended to a file anchor, then
  ``storage.audit.verify`` with that anchor (must say intact).

The parent prints one table, the trees side by side, rounds alternating.

    .venv/bin/python bench/booking_pg.py --baseline main             # PostgreSQL, 1 and 4 callers
    .venv/bin/python bench/booking_pg.py --baseline main --rounds 2 --callers 1,4,8
    .venv/bin/python bench/booking_pg.py --databases sqlite,postgres  # this tree, both
    .venv/bin/python bench/booking_pg.py --quick                      # smoke
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from baseline_tree import export

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PARIS = ZoneInfo("Europe/Paris")
ACTOR = "system:bench"
TRACED_BOOKINGS = 20


# ---- the worker: runs inside one source tree -------------------------------------------


class RoundTrips:
    """Counts what a database engine sends (per step), from SQLAlchemy's events."""

    def __init__(self) -> None:
        self.step = ""
        self.counts: Counter[str] = Counter()
        self.on = False

    def listen(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        def count(*_args: Any, **_kw: Any) -> None:
            if self.on:
                self.counts[self.step] += 1

        def begin(conn: Any) -> None:
            # psycopg sends BEGIN on its own before the first statement; SQLite's BEGIN
            # is a statement (seen by the cursor event).
            if conn.dialect.name != "sqlite":
                count()

        event.listen(Engine, "before_cursor_execute", count)
        event.listen(Engine, "begin", begin)
        event.listen(Engine, "commit", count)
        event.listen(Engine, "rollback", count)

    def listen_pool(self, pool: Any) -> None:
        """A pool that pings each connection it hands out sends one SELECT 1 then."""
        from sqlalchemy import event

        def checkout(*_args: Any) -> None:
            if self.on:
                self.counts[self.step] += 1

        if getattr(pool, "_pre_ping", False):
            event.listen(pool, "checkout", checkout)


class DbTime:
    """Time spent waiting on the database (statements, commits, rollbacks, pings), per
    thread: the server's work, the loopback and lock waits, without this process's Python.
    Less moved by the machine's load than the latency (and what ``pg_stat_statements``
    would show, which this server does not load)."""

    def __init__(self) -> None:
        self.local = threading.local()

    def listen(self, *engines: Any) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        def before(*_args: Any, **_kw: Any) -> None:
            self.local.since = time.perf_counter()

        def after(*_args: Any, **_kw: Any) -> None:
            self._add(time.perf_counter() - self.local.since)

        event.listen(Engine, "before_cursor_execute", before)
        event.listen(Engine, "after_cursor_execute", after)
        for dialect in {id(e.dialect): e.dialect for e in engines}.values():
            for name in ("do_commit", "do_rollback", "do_ping"):
                setattr(dialect, name, self._timed(getattr(dialect, name)))

    def _timed(self, call: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def timed(conn: Any) -> Any:
            began = time.perf_counter()
            try:
                return call(conn)
            finally:
                self._add(time.perf_counter() - began)
        return timed

    def _add(self, seconds: float) -> None:
        self.local.total = getattr(self.local, "total", 0.0) + seconds

    def take(self) -> float:
        """Seconds this thread spent in the database since the last call."""
        total, self.local.total = getattr(self.local, "total", 0.0), 0.0
        return total


class HeadLock:
    """How long each transaction kept the audit head locked: from the answer to its
    ``SELECT ... audit_head ... FOR UPDATE`` to the end of its commit (others wait that long)."""

    def __init__(self) -> None:
        self.held: list[float] = []
        self.since = threading.local()

    def listen(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.orm import Session

        def executed(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "FROM audit_head" in statement and "FOR UPDATE" in statement:
                self.since.at = time.perf_counter()

        def ended(_session: Any, *_args: Any) -> None:
            at = getattr(self.since, "at", None)
            if at is not None:
                self.held.append(time.perf_counter() - at)
                self.since.at = None

        event.listen(Engine, "after_cursor_execute", executed)
        event.listen(Session, "after_commit", ended)
        event.listen(Session, "after_rollback", ended)


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "n": 0}

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000

    return {"p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "n": len(ordered)}


def _load(booking: Callable[[random.Random], tuple[bool, float, float, list[float]]],
          callers: int, seconds: float) -> dict[str, Any]:
    """``callers`` threads booking for ``seconds``: rate and latency percentiles."""
    totals: list[float] = []
    writes: list[float] = []
    in_db: list[float] = []
    refused = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def run(seed: int) -> None:
        mine = random.Random(seed)
        while time.perf_counter() < stop_at:
            ok, total, write, db_steps = booking(mine)
            with lock:
                if ok:
                    totals.append(total)
                    writes.append(write)
                    in_db.append(sum(db_steps))
                else:
                    refused[0] += 1

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(callers)]
    began, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    return {"rate": len(totals) / elapsed, "refused": refused[0],
            "cpu_ms": cpu * 1000 / max(1, len(totals)),
            "booking": _percentiles(totals), "hold+confirm": _percentiles(writes),
            "db": _percentiles(in_db)}


def worker(url: str, appointments: int, seconds: float, callers: list[int],
           keys_dir: Path) -> dict[str, Any]:
    """Build, count round trips, run the load at each number of callers, verify the chain."""
    from scheduling.service import Agenda
    from scheduling.values import Booked, Held
    from storage import audit
    from storage.audit_anchor import FileAnchor, read_anchor
    from storage.db import Database
    from storage.identity import install
    from storage.keyring import Keyring
    from storage.migrate import upgrade
    from storage.patients import PatientDirectory

    spec = importlib.util.spec_from_file_location("agenda_bench", Path("bench/agenda.py"))
    assert spec is not None and spec.loader is not None
    agenda_bench = importlib.util.module_from_spec(spec)
    sys.modules["agenda_bench"] = agenda_bench  # dataclasses look their module up
    spec.loader.exec_module(agenda_bench)

    keyring = Keyring.create(keys_dir / f"keyring-{uuid.uuid4().hex[:6]}.json")
    install(keyring)
    upgrade(url)
    trips = RoundTrips()
    trips.listen()
    head_lock = HeadLock()
    head_lock.listen()
    db = Database(url, pool_size=max(callers) + 2)
    db_time = DbTime()
    db_time.listen(db.engine, db._read_engine)
    for pool in {id(e.pool): e.pool for e in (db.engine, db._read_engine)}.values():
        trips.listen_pool(pool)
    try:
        rng = random.Random(11)
        start = datetime.now(UTC).astimezone(PARIS).date() + timedelta(days=1)
        now = datetime.combine(start, datetime.min.time(), PARIS).astimezone(UTC)
        practice_id, _built = agenda_bench.build(db, appointments, start, rng)
        agenda = Agenda(db)
        with db.session() as session:
            patients = [p.id for p in PatientDirectory(session).find_by_name(practice_id, "Bench")]

        def booking(rng: random.Random, step: Callable[[str], None]
                    ) -> tuple[bool, float, float, list[float]]:
            """One search+hold+confirm: (booked, total seconds, hold+confirm seconds,
            seconds in the database of each step)."""
            db_time.take()
            t0 = time.perf_counter()
            step("search")
            found = agenda.find_slots(
                practice_id, "consultation", limit=1, now=now,
                after=now + timedelta(days=rng.randrange(360), hours=rng.randrange(24)))
            in_db = [db_time.take()]
            if not isinstance(found, list) or not found:
                return False, time.perf_counter() - t0, 0.0, in_db
            t1 = time.perf_counter()
            step("hold")
            held = agenda.hold(found[0], timedelta(minutes=3), now=now, actor=ACTOR)
            in_db.append(db_time.take())
            step("confirm")
            result = (agenda.confirm(held.hold.id, rng.choice(patients), uuid.uuid4().hex,
                                     now=now, actor=ACTOR)
                      if isinstance(held, Held) else held)
            end = time.perf_counter()
            in_db.append(db_time.take())
            return isinstance(result, Booked), end - t0, end - t1, in_db

        def set_step(name: str) -> None:
            trips.step = name

        for _ in range(3):  # warm up caches and the server's prepared statements
            booking(rng, lambda _name: None)
        trips.on = True
        traced, step_db = 0, [0.0, 0.0, 0.0]
        for _ in range(TRACED_BOOKINGS):
            ok, _total, _write, in_db = booking(rng, set_step)
            traced += ok
            step_db = [a + b for a, b in zip(step_db, in_db, strict=False)]
        trips.on = False
        per_booking = {k: v / TRACED_BOOKINGS for k, v in sorted(trips.counts.items())}
        db_per_step = dict(zip(("search", "hold", "confirm"),
                               (t * 1000 / TRACED_BOOKINGS for t in step_db), strict=True))

        loads = {}
        for count in callers:
            head_lock.held.clear()
            loads[str(count)] = _load(lambda r: booking(r, lambda _name: None), count, seconds)
            loads[str(count)]["head_lock"] = _percentiles(head_lock.held)

        anchor_path = keys_dir / f"anchor-{uuid.uuid4().hex[:6]}.log"
        with db.session() as session:
            audit.checkpoint(session, keyring, [FileAnchor(anchor_path)])
        entries, _bad = read_anchor(anchor_path)
        with db.read_session() as session:
            checked = audit.verify(session, keyring, anchor=entries)
        return {"dialect": db.engine.dialect.name, "round_trips": per_booking,
                "db_ms": db_per_step,
                "traced_booked": traced, "loads": loads,
                "audit": {"intact": checked.intact, "events": checked.events,
                          "problems": checked.problems[:3]}}
    finally:
        db.dispose()


# ---- the parent: runs workers, prints one table ----------------------------------------


def _run(tree: Path, url: str, args: argparse.Namespace, keys: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", url, "--appointments",
         str(args.appointments), "--seconds", str(args.seconds), "--callers", args.callers,
         "--keys", str(keys)],
        cwd=tree, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"worker failed in {tree}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _database(kind: str, tmp: Path, admin_url: str) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}", lambda: None
    from sqlalchemy import create_engine, text

    name = f"telesec_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.rsplit("/", 1)[0] + "/" + name, drop


def _ms(figures: dict[str, float], key: str) -> str:
    return f"{figures[key]:>6.1f}" if figures["n"] else f"{'-':>6}"  # SQLite: no row lock


def _rows(kind: str, label: str, result: dict[str, Any]) -> list[str]:
    trips = result["round_trips"]
    trip_text = " + ".join(f"{trips.get(k, 0):g} {k}" for k in ("search", "hold", "confirm"))
    total_trips = sum(trips.values())
    rows = []
    for callers, load in result["loads"].items():
        book, write, lock = load["booking"], load["hold+confirm"], load["head_lock"]
        in_db = load.get("db", {"n": 0})
        rows.append(
            f"| {kind:<8} | {label:<16} | {callers:>7} | {load['rate']:>6.1f} | "
            f"{book['p50']:>6.1f} | {book['p95']:>6.1f} | {book['p99']:>6.1f} | "
            f"{write['p50']:>6.1f} | {write['p95']:>6.1f} | {write['p99']:>6.1f} | "
            f"{_ms(in_db, 'p50')} | {_ms(in_db, 'p99')} | "
            f"{_ms(lock, 'p50')} | {_ms(lock, 'p99')} | {load['cpu_ms']:>6.1f} | "
            f"{total_trips:>5.1f} | {book['n']:>5} |")
    audit = result["audit"]
    state = "intact" if audit["intact"] else f"BROKEN {audit['problems']}"
    db_ms = result.get("db_ms", {})
    db_text = " + ".join(f"{db_ms.get(k, 0):.2f} {k}" for k in ("search", "hold", "confirm"))
    rows.append(f"|   {kind}, {label}: round trips per booking {trip_text}; in the database "
                f"(one caller) {db_text} = {sum(db_ms.values()):.2f} ms; audit chain "
                f"{state} ({audit['events']} events, anchored checkpoint verified)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appointments", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per number of callers")
    parser.add_argument("--callers", default="1,4", help="numbers of concurrent callers")
    parser.add_argument("--databases", default="postgres")
    parser.add_argument("--baseline", help="git revision to measure side by side (e.g. main)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate baseline and this tree this many times")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL, help="admin URL of a PostgreSQL server")
    parser.add_argument("--quick", action="store_true",
                        help="smoke: 200 appointments, 0.5 s, 1 and 2 callers")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--keys", help=argparse.SUPPRESS)
    args = parser.parse_args()
    callers = [int(c) for c in args.callers.split(",")]
    if args.worker:
        sys.path.insert(0, os.getcwd())
        print(json.dumps(worker(args.worker, args.appointments, args.seconds, callers,
                                Path(args.keys))))
        return
    if args.quick:
        args.appointments, args.seconds, args.callers = 200, 0.5, "1,2"
    trees = [("this tree", REPO)]
    if args.baseline:
        trees.insert(0, (f"baseline {args.baseline}"[:16], export(args.baseline)))
    print(f"booking benchmark: {args.appointments} appointments, {args.seconds:g} s per "
          f"number of callers; load average {os.getloadavg()[0]:.1f}")
    header = (f"| {'database':<8} | {'code':<16} | {'callers':>7} | {'per s':>6} | "
              f"{'p50':>6} | {'p95':>6} | {'p99':>6} | {'w p50':>6} | {'w p95':>6} | "
              f"{'w p99':>6} | {'db50':>6} | {'db99':>6} | {'lock50':>6} | {'lock99':>6} | "
              f"{'cpu':>6} | {'trips':>5} | "
              f"{'n':>5} |")
    rule = "|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|"
    rows = [header, rule]
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.databases.split(","):
            for label, tree in trees * args.rounds:
                url, drop = _database(kind, Path(tmp), args.pg_url)
                try:
                    result = _run(tree, url, args, Path(tmp))
                finally:
                    drop()
                rows.extend(_rows(kind, label, result))
    print("\n".join(rows))
    print("ms; p50/p95/p99: search+hold+confirm; w: hold+confirm only (the two audited "
          "writes); db: time a booking spent waiting on the database (statements, commits, "
          "pings: server, loopback, lock waits); lock: how long a transaction kept the "
          "audit head locked; cpu: this process's CPU per booking; trips: database round "
          "trips per booking (one caller)")


if __name__ == "__main__":
    main()
