"""Identity benchmark: patient lookups (phone flow and staff search), SQLite and PostgreSQL.

Builds one practice of N patients (sealed identity, blind indexes, every creation
audited), then for S seconds each: the phone flow's lookups (caller number -> patients;
birth date + the name said), the staff searches (last name; birth date alone) and the
opening of one record. Also measures what the finding of issue 14 measured: how fast a
birth date comes back from what the database stores, for whoever holds the blind-index
key. With ``--baseline REV`` the same measures run, in the same run and alternately,
against the code of git revision REV (exported to a temporary directory), so that the
cost of a change is read side by side.

    .venv/bin/python bench/identity.py                          # 5,000 patients, 5 s each
    .venv/bin/python bench/identity.py --baseline 51c1041       # before/after side by side
    .venv/bin/python bench/identity.py --quick                  # smoke
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from baseline_tree import export

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ACTOR = "system:bench"
SURNAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
            "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "García", "David",
            "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier"]
FIRSTS = ["Léa", "Hugo", "Chloé", "Louis", "Emma", "Jules", "Inès", "Lucas", "Jade", "Noé"]
DATES = [date(1900, 1, 1) + timedelta(days=n) for n in range((date(2026, 12, 31)
                                                              - date(1900, 1, 1)).days + 1)]


# ---- the worker: runs inside one source tree -------------------------------------------


def _people(n: int, rng: random.Random) -> list[tuple[str, str, date, str]]:
    out = []
    for i in range(n):
        last = f"{rng.choice(SURNAMES)}-{i % 997}"  # ~1,000 distinct last names
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(30_000))
        out.append((rng.choice(FIRSTS), last, born, f"06{i:08d}"))
    return out


def _timed(seconds: float, step: Callable[[], int]) -> dict[str, float]:
    latencies: list[float] = []
    found = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        t0 = time.perf_counter()
        found += step()
        latencies.append(time.perf_counter() - t0)
    ordered = sorted(latencies)
    return {"rate": len(ordered) / (time.perf_counter() - began),
            "p50": statistics.median(ordered) * 1000,
            "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
            "count": len(ordered), "found": found / max(len(ordered), 1)}


def worker(url: str, patients: int, seconds: float, keys_dir: Path) -> dict[str, object]:
    from storage import identity
    from storage.db import Database
    from storage.erasure import erase_patient
    from storage.keyring import Keyring
    from storage.migrate import upgrade
    from storage.models import Practice
    from storage.patients import PatientDirectory, fold_name

    keyring = Keyring.create(keys_dir / f"keyring-{uuid.uuid4().hex[:6]}.json")
    identity.install(keyring)
    upgrade(url)
    db = Database(url)
    rng = random.Random(14)
    people = _people(patients, rng)
    results: dict[str, object] = {}
    try:
        began = time.perf_counter()
        with db.session() as s:
            place = Practice(slug="bench", name="Bench", timezone="Europe/Paris")
            s.add(place)
            s.flush()
            practice = place.id
        ids = []
        for start in range(0, len(people), 500):
            with db.session() as s:
                d = PatientDirectory(s)
                ids += [d.add(practice, first_name=f, last_name=la, birth_date=b, phone=p,
                              actor=ACTOR).id for f, la, b, p in people[start:start + 500]]
        results["build"] = time.perf_counter() - began

        def by_phone() -> int:
            _first, _last, born, phone = rng.choice(people)
            with db.session() as s:
                found = PatientDirectory(s).find_by_phone(practice, phone)
            return sum(p.birth_date == born for p in found)  # then the date, as the flow does

        def by_birth_date_and_name() -> int:
            first, last, born, _phone = rng.choice(people)
            said = f"{first} {last}"
            with db.session() as s:
                d = PatientDirectory(s)
                if hasattr(d, "find_by_birth_date_and_name"):
                    found = d.find_by_birth_date_and_name(practice, born, said)
                else:  # the phone flow before: the date's index, then the names compared
                    wanted = fold_name(said)
                    found = [p for p in d.find_by_birth_date(practice, born)
                             if fold_name(p.last_name) == wanted
                             or fold_name(f"{p.first_name} {p.last_name}") == wanted
                             or wanted.endswith(" " + fold_name(p.last_name))]
            return len(found)

        def by_last_name() -> int:
            with db.session() as s:
                return len(PatientDirectory(s).find_by_name(practice, rng.choice(people)[1]))

        def by_birth_date() -> int:
            with db.session() as s:
                return len(PatientDirectory(s).find_by_birth_date(practice,
                                                                  rng.choice(people)[2]))

        def get_one() -> int:
            with db.session() as s:
                PatientDirectory(s).get(rng.choice(ids))
            return 1

        for name, step in (("caller number -> patients", by_phone),
                           ("birth date + name said", by_birth_date_and_name),
                           ("staff: last name", by_last_name),
                           ("staff: birth date alone", by_birth_date),
                           ("open one record", get_one)):
            results[name] = _timed(seconds, step)
        results["brute force"] = _brute_force(db, keyring, practice, people[0])
        began = time.perf_counter()
        with db.session() as s:
            erase_patient(s, ids[1], actor=ACTOR, reason="bench")
        results["erase one patient"] = time.perf_counter() - began
    finally:
        db.dispose()
        identity.uninstall()
    return results


def _brute_force(db: object, keyring: object, practice: int,
                 person: tuple[str, str, date, str]) -> dict[str, object]:
    """Recover ``person``'s birth date from what the database stores about it, with the
    blind-index key (the finding: 28,312 HMACs, 0.12 s)."""
    from sqlalchemy import inspect, text

    from storage.patients import fold_name

    engine = db.engine  # type: ignore[attr-defined]
    columns = {c["name"] for c in inspect(engine).get_columns("patients")}
    key = keyring.blind_index_key  # type: ignore[attr-defined]
    last = fold_name(person[1])
    if "birth_date_index" in columns:
        kind, column, prefix = "birth date alone", "birth_date_index", ""
        label = "birth_date"
    else:
        kind, column = "last name + birth date, name known", "name_birth_index"
        prefix = last + "|"
        label = "last_name+birth_date"
    with engine.connect() as conn:
        stored = conn.execute(text(f"SELECT {column} FROM patients WHERE phone_index IS NOT "
                                   "NULL ORDER BY id LIMIT 1")).scalar()
    began = time.perf_counter()
    tries = 0
    for day in DATES:
        tries += 1
        message = f"{label}|{practice}|{prefix}{day.isoformat()}".encode()
        if hmac.new(key, message, hashlib.sha256).hexdigest()[:32] == stored:
            break
    else:
        raise RuntimeError("the birth date was not found")
    elapsed = time.perf_counter() - began
    return {"index": kind, "tries": tries, "seconds": elapsed,
            "per_hmac_us": elapsed / tries * 1e6, "found": day == person[2]}


# ---- the parent: runs workers, prints one table ----------------------------------------


def _run(tree: Path, url: str, patients: int, seconds: float, keys: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", url, "--patients",
         str(patients), "--seconds", str(seconds), "--keys", str(keys)],
        cwd=tree, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"worker failed in {tree}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _database(kind: str, tmp: Path) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        url = f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        return url, lambda: None
    from sqlalchemy import create_engine, text

    name = f"telesec_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--baseline", help="git revision to measure side by side")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate baseline and this tree this many times")
    parser.add_argument("--quick", action="store_true", help="smoke: 200 patients, 0.5 s each")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--keys", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        sys.path.insert(0, os.getcwd())
        print(json.dumps(worker(args.worker, args.patients, args.seconds, Path(args.keys)),
                         default=str))
        return
    if args.quick:
        args.patients, args.seconds = 200, 0.5
    trees = [("this tree", REPO)]
    if args.baseline:
        trees.insert(0, (f"baseline {args.baseline}", export(args.baseline)))
    print(f"identity benchmark: {args.patients} patients, {args.seconds:g} s per measure; "
          f"load average {os.getloadavg()[0]:.1f}")
    header = (f"| {'database':<8} | {'code':<17} | {'operation':<26} | {'per s':>8} | "
              f"{'p50 ms':>7} | {'p99 ms':>7} | {'found':>5} |")
    rule = "|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|"
    rows, notes = [header, rule], []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.databases.split(","):
            for label, tree in trees * args.rounds:
                url, drop = _database(kind, Path(tmp))
                try:
                    result = _run(tree, url, args.patients, args.seconds, Path(tmp))
                finally:
                    drop()
                rows.append(f"| {kind:<8} | {label:<17} | {'build (add, audited)':<26} | "
                            f"{args.patients / result['build']:>8.1f} | {'':>7} | {'':>7} | "
                            f"{'':>5} |")
                for name, fig in result.items():
                    if isinstance(fig, dict) and "rate" in fig:
                        rows.append(f"| {kind:<8} | {label:<17} | {name:<26} | "
                                    f"{fig['rate']:>8.1f} | {fig['p50']:>7.2f} | "
                                    f"{fig['p99']:>7.2f} | {fig['found']:>5.2f} |")
                brute = result["brute force"]
                erase_ms = result["erase one patient"] * 1000
                notes.append(f"{kind}, {label}: erasing one patient {erase_ms:.0f} ms; "
                             f"birth date from its index ({brute['index']}): {brute['tries']} "
                             f"HMACs, {brute['seconds']:.3f} s ({brute['per_hmac_us']:.2f} µs "
                             f"each), found: {brute['found']}")
    print("\n".join(rows))
    print()
    print("\n".join(notes))
    per_hmac = statistics.median(
        float(n.split("s (")[1].split(" ")[0]) for n in notes) if notes else 0.0
    print(f"name unknown: a last-name dictionary of 100,000 x {len(DATES)} dates = "
          f"{100_000 * len(DATES) * per_hmac / 1e6 / 3600:.1f} h of one core at "
          f"{per_hmac:.2f} µs per HMAC; after `telesec keys rotate --blind-index`, copies of "
          "the old indexes cannot be tested at all (the old key is gone)")


if __name__ == "__main__":
    main()
