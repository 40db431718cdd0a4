"""Engine time per conversational turn of the IVR (recognition excluded): p50 and p95.

A turn is what Telesec does between receiving one caller input and being ready for the
next: understanding the text, running flow steps, agenda queries and bookings, choosing
and wording the prompts. Calls go through the default French flow against the demo
practice, whose agenda is filled two thirds full for a year, on SQLite.

    .venv/bin/python bench/flows.py [--calls 30]

It then prints "turns and seconds to book": for a known patient and a new patient booking
by keys, the questions the caller hears and the seconds spent listening to Telesec
(words said / 2.5 words a second), with git main's default flow (read with `git show
main:ivr_flows/flows/default_fr.yaml` at run time, run by today's engine) and with this
tree's, side by side.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ivr_flows.channel import Prompt, Utterance
from ivr_flows.checker import load_flow
from ivr_flows.interpreter import Interpreter
from ivr_flows.practice import load_practice
from ivr_flows.services import build_services
from ivr_flows.simulator import MemorySink, TextChannel
from ivr_flows.steps import STEP_KINDS
from scheduling.demo import DEMO_SLUG, seed_demo
from scheduling.history import PastOrImportedVisit, record_appointments
from storage.db import Database
from storage.identity import install
from storage.keyring import Keyring
from storage.migrate import upgrade
from storage.models import OpeningTemplate, Practitioner, VisitType

FLOW = Path(__file__).resolve().parents[1] / "ivr_flows" / "flows" / "default_fr.yaml"
NOW = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Paris
CAMILLE = "+33639980001"
LOUIS = "+33639980002"

SCRIPTS: dict[str, tuple[str | None, list[str]]] = {
    "book by keys": (CAMILLE, ["#1", "", "#1", "#1", "le 12 mars 1984", "#1", "#1", "#0",
                               "#1", "#1", "#1"]),
    "book by speech": (CAMILLE, ["#1", "", "je voudrais un rendez-vous avec le docteur "
                                 "moreau jeudi prochain après-midi", "oui", "le 12 mars 1984",
                                 "oui", "consultation", "le deuxième", "oui"]),
    "cancel, kept": (LOUIS, ["#1", "", "je veux annuler", "deux novembre cinquante et un",
                             "non"]),
    "unknown caller, name": (None, ["#1", "", "#2", "le 2 novembre 1951", "Garnier", "#0",
                                    "#0", "rappelez-moi", "#3"]),
}
NEW_CALLER = "+33639989999"
# (caller, script with git main's flow, script with this tree's flow)
TO_BOOK: dict[str, tuple[str, list[str], list[str]]] = {
    "known patient, keys": (CAMILLE, ["#1", "", "keys 12031984#", "#1", "#1", "#1", "#0", "#1",
                                      "#1", "#1"],
                            ["#1", "", "#1", "#1", "keys 12031984#", "#1", "#1", "#0", "#1",
                             "#1", "#1"]),
    "new patient, keys": (NEW_CALLER, ["#1", "", "keys 03041990#", "keys 100099#",
                                       "keys 03041990#", "keys 100099#", "keys 03041990#",
                                       "keys 100099#", "", ""],
                          ["#1", "", "#1", "#2", "keys 03041990#", "#1", "#1", "#1", "#1",
                           "#1"]),
}
WORDS_PER_SECOND = 2.5


class TimedChannel(TextChannel):
    """Measures the engine's time from each caller input to the next listen."""

    def __init__(self, caller: str | None, lines: Sequence[str], turns: list[float]) -> None:
        self._lines = list(lines)
        super().__init__(self._pop, caller_number=caller)
        self._turns = turns
        self._since: float | None = None

    def _pop(self) -> str | None:
        return self._lines.pop(0) if self._lines else None

    def _mark(self) -> None:
        if self._since is not None:
            self._turns.append(time.perf_counter() - self._since)
            self._since = None

    def listen(self, **kwargs: object) -> Utterance:  # type: ignore[override]
        self._mark()
        heard = super().listen(**kwargs)  # type: ignore[arg-type]
        self._since = time.perf_counter()
        return heard

    def say(self, parts: Sequence[Prompt], language: str, *, barge_in: bool = True
            ) -> Utterance:
        return super().say(parts, language, barge_in=barge_in)

    def hangup(self) -> None:
        self._mark()
        super().hangup()


def fill_year(db: Database, practice_id: int, patient_ids: list[int]) -> int:
    """Book two slots in three for a year, for every doctor of the demo practice."""
    with db.session() as session:
        kind = session.scalar(select(VisitType).where(
            VisitType.practice_id == practice_id, VisitType.code == "consultation"))
        doctors = session.scalars(select(Practitioner).where(
            Practitioner.practice_id == practice_id)).all()
        zone = ZoneInfo("Europe/Paris")
        visits: list[PastOrImportedVisit] = []
        step = timedelta(minutes=kind.duration_minutes)
        first = NOW.astimezone(zone).date() + timedelta(days=6)  # after the demo's own visits
        for doctor in doctors:
            windows = session.scalars(select(OpeningTemplate).where(
                OpeningTemplate.practitioner_id == doctor.id)).all()
            for offset in range(365):
                day: date = first + timedelta(days=offset)
                for window in (w for w in windows if w.weekday == day.weekday()):
                    start = datetime.combine(day, window.start_time, zone)
                    end = datetime.combine(day, window.end_time, zone)
                    index = 0
                    while start + step <= end:
                        if index % 3 != 2:
                            visits.append(PastOrImportedVisit(
                                practice_id, doctor.id, patient_ids[index % len(patient_ids)],
                                kind.id, start.astimezone(UTC), (start + step).astimezone(UTC),
                                booked_by="bench"))
                        start += step
                        index += 1
        for chunk in range(0, len(visits), 2000):
            record_appointments(session, visits[chunk:chunk + 2000], actor="system:bench")
    return len(visits)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="calls per script")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        install(Keyring.create(Path(tmp) / "keyring.json"))  # keys the new audit trail
        upgrade(url)
        db = Database(url)
        report = seed_demo(db, now=NOW)
        from storage.patients import PatientDirectory

        with db.session() as session:
            directory = PatientDirectory(session)
            ids = [directory.by_code(report.practice_id, f"1000{n:02d}").id for n in range(5, 9)]
        started = time.perf_counter()
        count = fill_year(db, report.practice_id, ids)
        print(f"agenda: {count} appointments over a year "
              f"(filled in {time.perf_counter() - started:.1f} s)")
        services = build_services(db, voicemail_sinks=MemorySink, clock=lambda: NOW)
        interpreter = Interpreter(load_flow(FLOW, kinds=STEP_KINDS), services,
                                  load_practice(db, DEMO_SLUG))
        all_turns: list[float] = []
        for name, (caller, script) in SCRIPTS.items():
            turns: list[float] = []
            endings: dict[str, int] = {}
            for _ in range(args.calls):
                services.lockout.clear(caller)
                trail = interpreter.run(TimedChannel(caller, script, turns)).trail
                ending = " > ".join(f"{step}:{outcome}" for step, outcome in trail[4:])
                endings[ending] = endings.get(ending, 0) + 1
            all_turns += turns
            print(f"{name:24s} turns={len(turns):4d}  p50={percentile(turns, .5) * 1e3:6.1f} ms"
                  f"  p95={percentile(turns, .95) * 1e3:6.1f} ms  "
                  f"max={max(turns) * 1e3:6.1f} ms")
            for ending, times in endings.items():
                print(f"    {times} x {ending}")
        print(f"{'all turns':24s} turns={len(all_turns):4d}  "
              f"p50={percentile(all_turns, .5) * 1e3:6.1f} ms  "
              f"p95={percentile(all_turns, .95) * 1e3:6.1f} ms  "
              f"mean={statistics.fmean(all_turns) * 1e3:6.1f} ms")
        to_book(services, db)
        db.dispose()


def _main_flow(tmp: Path) -> Path | None:
    """git main's default French flow, in ``tmp`` (None outside a git checkout)."""
    import subprocess

    done = subprocess.run(["git", "show", "main:ivr_flows/flows/default_fr.yaml"],
                          cwd=FLOW.parents[2], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None
    path = tmp / "main_default_fr.yaml"
    path.write_text(done.stdout, encoding="utf-8")
    return path


def to_book(services: object, db: Database) -> None:
    """Questions heard and seconds listening until booked, main's flow beside this one."""
    with tempfile.TemporaryDirectory() as tmp:
        before = _main_flow(Path(tmp))
        flows = {"main": before, "this tree": FLOW}
        print("turns and seconds to book (keys only, no speech model; listening = words said "
              "/ 2.5 a second)")
        for name, (caller, *scripts) in TO_BOOK.items():
            row = [f"{name:22s}"]
            for (label, path), script in zip(flows.items(), scripts, strict=True):
                if path is None:
                    row.append(f"{label}: (no git main)")
                    continue
                interpreter = Interpreter(load_flow(path, kinds=STEP_KINDS), services,
                                          load_practice(db, DEMO_SLUG))
                lines = list(script)
                channel = TextChannel(lambda lines=lines: lines.pop(0) if lines else None,
                                      caller_number=caller, speech=False)
                trail = interpreter.run(channel).trail
                booked = any(step == "book" and outcome == "booked" for step, outcome in trail)
                words = sum(len(text.split()) for text in channel.spoken)
                row.append(f"{label}: {'booked' if booked else 'NOT booked'}, "
                           f"{len(channel.questions)} questions, "
                           f"{words / WORDS_PER_SECOND:5.0f} s listening")
            print("  ".join(row))


if __name__ == "__main__":
    main()
