"""Calendar sync benchmark: import of a year of events from Radicale, an incremental sync,
and slot search with the imported busy time against the same search without it.

Builds bench/agenda.py's practice (10 practitioners, a year of opening hours, N
appointments) on SQLite (and PostgreSQL), starts a real Radicale (htpasswd, free loopback
port) with one calendar for each of 3 practitioners holding E events over the next year
(single events, weekly recurring ones with exceptions, all-day days), then:

1. the initial import of each calendar (time, HTTP requests);
2. 10 changes made by a second caldav client (4 moved, 3 added, 3 deleted), then the
   incremental sync (time, HTTP requests);
3. slot search as bench/agenda.py runs it (random practitioner, part of day, date) on an
   identical practice without calendars and on this one, reading the imported busy time,
   S s each, in alternating windows of the same searches; the p99 ratio is the figure to
   watch (goal <= 1.2);
4. publishing 50 queued appointments (one PUT each).

    .venv/bin/python bench/calendars.py                        # 5,000 events, 10 s per search
    .venv/bin/python bench/calendars.py --events 300 --appointments 300 --seconds 1 \\
        --databases sqlite                                      # smoke
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlalchemy import delete, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.agenda import PG_ADMIN_URL, Figures, build, measure, postgres_url, sqlite_url
from calendars.credentials import checked_source
from calendars.links import link_calendar
from calendars.sync import CalendarSync
from foundation.settings import CalendarSettings
from scheduling.calendar_outbox import record_change
from scheduling.service import Agenda
from storage.db import Database
from storage.identity import install
from storage.keyring import Keyring
from storage.migrate import upgrade
from storage.models import Appointment, CalendarLink, CalendarOutbox, Practitioner
from tests.calendars.radicale_server import RadicaleServer

PARIS = ZoneInfo("Europe/Paris")
LINKED = 3
PASSWORD = "bench password"
ADMIN = "system:bench"


def year_of_events(count: int, start: date, rng: random.Random, tag: str) -> str:
    """One VCALENDAR of ``count`` events over a year: singles, weekly series, all-day."""
    calendar = Calendar()
    calendar.add("prodid", "-//bench//FR")
    calendar.add("version", "2.0")
    for index in range(count):
        event = Event()
        event.add("uid", f"{tag}-{index}@bench")
        event.add("dtstamp", datetime(2026, 1, 1, tzinfo=UTC))
        event.add("summary", "Indisponible")
        day = start + timedelta(days=rng.randrange(365))
        kind = index % 50
        if kind == 0:  # a weekly series with one exception
            first = datetime.combine(day, datetime.min.time(), PARIS).replace(hour=12)
            event.add("dtstart", first)
            event.add("dtend", first + timedelta(hours=1))
            event.add("rrule", {"FREQ": "WEEKLY", "COUNT": 20})
            event.add("exdate", first + timedelta(weeks=2))
        elif kind == 1:  # an all-day event
            event.add("dtstart", day)
            event.add("dtend", day + timedelta(days=1))
        else:
            moment = datetime.combine(day, datetime.min.time(), PARIS).replace(
                hour=rng.randrange(8, 18), minute=rng.choice((0, 15, 30, 45)))
            event.add("dtstart", moment)
            event.add("dtend", moment + timedelta(minutes=rng.choice((30, 60, 90))))
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical().decode()


def upload(server: RadicaleServer, user: str, name: str, body: str) -> str:
    """Create the collection with all its events in one PUT (Radicale takes a whole file)."""
    url = server.collection_url(user, name)
    with server.client(user, timeout=600) as client:
        answer = client.put(url, body, {"Content-Type": "text/calendar; charset=utf-8"})
        if answer.status not in (200, 201, 204):
            raise RuntimeError(f"Radicale refused the upload: HTTP {answer.status}")
    return url


def ten_changes(server: RadicaleServer, user: str, url: str, rng: random.Random,
                start: date) -> None:
    """The doctor's phone: 4 events moved, 3 added, 3 deleted."""
    with server.client(user, timeout=120) as client:
        collection = client.calendar(url=url)
        events = [e for e in collection.events()
                  if "RRULE" not in e.icalendar_component][:7]
        for item in events[:4]:
            component = item.icalendar_component
            begin = component.decoded("DTSTART")
            if isinstance(begin, datetime):
                length = component.decoded("DTEND") - begin
                component.pop("DTSTART")
                component.pop("DTEND")
                component.add("dtstart", begin + timedelta(hours=1))
                component.add("dtend", begin + timedelta(hours=1) + length)
            item.save()
        for item in events[4:7]:
            item.delete()
        for index in range(3):
            day = start + timedelta(days=rng.randrange(1, 90))
            moment = datetime.combine(day, datetime.min.time(), PARIS).replace(hour=9)
            added = Event()
            added.add("uid", f"added-{index}-{rng.random()}@bench")
            added.add("dtstamp", datetime(2026, 1, 1, tzinfo=UTC))
            added.add("dtstart", moment)
            added.add("dtend", moment + timedelta(hours=1))
            wrapper = Calendar()
            wrapper.add("prodid", "-//bench//FR")
            wrapper.add("version", "2.0")
            wrapper.add_component(added)
            wrapper.add_missing_timezones()
            collection.add_event(wrapper.to_ical().decode())


def run(name: str, urls: tuple[str, str], server: RadicaleServer, args: argparse.Namespace,
        keyring: Keyring) -> list[Figures]:
    """Two identical practices: A as bench/agenda.py has it, B with 3 linked calendars."""
    for url in urls:
        upgrade(url)
    plain, linked = Database(urls[0]), Database(urls[1])
    try:
        start = datetime.now(UTC).astimezone(PARIS).date() + timedelta(days=1)
        now = datetime.combine(start, datetime.min.time(), PARIS).astimezone(UTC)
        practice_id, built = build(linked, args.appointments, start, random.Random(11))
        build(plain, args.appointments, start, random.Random(11))  # the same data
        figures = [Figures(name, f"build ({args.appointments} appts)", 1, built, [built])]
        rng = random.Random(5)

        per_calendar = args.events // LINKED
        sync = CalendarSync(linked, keyring,
                            CalendarSettings(horizon_days=400, timeout_seconds=300),
                            clock=lambda: now)
        links = []
        for index in range(LINKED):
            body = year_of_events(per_calendar, start, rng, f"dr{index}")
            collection = upload(server, "doctor", f"{name}-dr-{index:02d}", body)
            with linked.session() as session:
                person = session.scalar(select(Practitioner).where(
                    Practitioner.slug == f"dr-{index:02d}"))
                assert person is not None
                link_calendar(session, keyring, practice_id, person.id,
                              checked_source("caldav", collection, "doctor", PASSWORD),
                              actor=ADMIN, now=now)
            links.append((person.id, collection))
        with linked.session() as session:  # publishing is measured apart, below
            session.execute(delete(CalendarOutbox))
            link_ids = list(session.scalars(select(CalendarLink.id).order_by(CalendarLink.id)))

        initial_s, initial_requests, network = [], 0, 0.0
        for link_id in link_ids:
            report = sync.sync_link(link_id)
            assert report is not None and report.ok, report
            initial_s.append(report.seconds)
            initial_requests += report.requests
            network += report.network_seconds
        with linked.read_session() as session:
            periods = sum(link.busy_count for link in session.scalars(select(CalendarLink)))
        figures.append(Figures(name, f"initial import ({per_calendar * LINKED} ev)", LINKED,
                               sum(initial_s), initial_s,
                               f"{initial_requests} HTTP requests ({network:.1f} s waiting for "
                               f"Radicale), {periods} busy periods"))

        for _person, collection in links:
            ten_changes(server, "doctor", collection, rng, start)
        again_s, again_requests, summaries, network = [], 0, [], 0.0
        for link_id in link_ids:
            report = sync.sync_link(link_id)
            assert report is not None and report.ok, report
            again_s.append(report.seconds)
            again_requests += report.requests
            network += report.network_seconds
            summaries.append(report.message.split(";")[0])
        figures.append(Figures(name, "incremental (10 changes)", LINKED, sum(again_s), again_s,
                               f"{again_requests} HTTP requests ({network:.1f} s waiting), "
                               f"{summaries[0]} each"))

        baseline, with_busy = _searches(name, plain, linked, practice_id, now, args.seconds)
        figures += [baseline, with_busy]

        with linked.session() as session:
            rows = list(session.scalars(select(Appointment).where(
                Appointment.practitioner_id == links[0][0], Appointment.starts_at > now)
                .order_by(Appointment.starts_at).limit(50)))
            for row in rows:
                record_change(session, row)
        began = time.perf_counter()
        drained = sync.publish()
        spent = time.perf_counter() - began
        each = spent / max(1, drained.published)
        figures.append(Figures(name, f"publish {drained.published} appts", drained.published,
                               spent, [each] * max(1, drained.published),
                               f"{drained.requests} HTTP requests (p50/p99: per appointment)"))
        ratio = _p99(with_busy) / _p99(baseline) if _p99(baseline) else float("nan")
        print(f"RATIO {name} slot_search_p99_with_busy/without={ratio:.2f} "
              f"(p99 {_p99(with_busy):.2f} ms vs {_p99(baseline):.2f} ms; "
              f"p50 {_p50(with_busy):.2f} vs {_p50(baseline):.2f} ms; goal <= 1.2)")
        return figures
    finally:
        plain.dispose()
        linked.dispose()


def _searches(name: str, plain: Database, linked: Database, practice_id: int, now: datetime,
              seconds: float) -> tuple[Figures, Figures]:
    """bench/agenda.py's slot search on A and on B, in alternating windows of the same
    searches (same seeds), so that the machine's load moves both sides alike."""
    people = [f"dr-{i:02d}" for i in range(10)]
    rounds = max(2, int(seconds))
    sides = {"plain": (Agenda(plain), [], [0, 0.0, 0]), "linked": (Agenda(linked), [], [0, 0.0, 0])}
    for round_ in range(rounds):
        for side in (("plain", "linked") if round_ % 2 == 0 else ("linked", "plain")):
            agenda, latencies, totals = sides[side]
            rng = random.Random(round_)

            def search(agenda: Agenda = agenda, rng: random.Random = rng) -> bool:
                found = agenda.find_slots(
                    practice_id, "consultation", practitioner=rng.choice([None, *people]),
                    part_of_day=rng.choice([None, "morning", "afternoon"]),
                    after=now + timedelta(days=rng.randrange(360), hours=rng.randrange(24)),
                    limit=3, now=now)
                return isinstance(found, list) and bool(found)

            count, elapsed, window, empty = measure(seconds / rounds, search)
            latencies.extend(window)
            totals[0] += count
            totals[1] += elapsed
            totals[2] += empty
    (_a, plain_lat, plain_tot), (_b, linked_lat, linked_tot) = sides["plain"], sides["linked"]
    return (Figures(name, "slot search, no calendar", plain_tot[0], plain_tot[1], plain_lat,
                    "bench/agenda.py's search, same run"),
            Figures(name, "slot search, 3 calendars", linked_tot[0], linked_tot[1], linked_lat,
                    f"{linked_tot[2]} empty" if linked_tot[2] else "same searches, interleaved"))


def _p50(figures: Figures) -> float:
    ordered = sorted(figures.latencies)
    return ordered[len(ordered) // 2] * 1000 if ordered else 0.0


def _p99(figures: Figures) -> float:
    ordered = sorted(figures.latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else 0.0


def _database(name: str, args: argparse.Namespace) -> AbstractContextManager[str]:
    return sqlite_url() if name == "sqlite" else postgres_url(args.pg_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events in the 3 calendars")
    parser.add_argument("--appointments", type=int, default=30_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL, help="admin URL of a PostgreSQL server")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # conflicts found in random data are expected
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        keyring = Keyring.create(Path(folder) / "keyring.json")
        install(keyring)
        server = RadicaleServer(Path(folder) / "radicale", {"doctor": PASSWORD}).start()
        results: list[Figures] = []
        try:
            for name in args.databases.split(","):
                with _database(name, args) as plain, _database(name, args) as linked:
                    results.extend(run(name, (plain, linked), server, args, keyring))
        finally:
            server.stop()
    print(f"\ncalendar benchmark: {args.events} events in {LINKED} Radicale calendars (a year), "
          f"{args.appointments} appointments, {args.seconds:g} s per search measure, one client")
    print(f"| {'database':<10} | {'operation':<22} | {'per s':>9} | {'p50 ms':>8} | "
          f"{'p99 ms':>8} | {'count':>7} | note")
    print(f"|{'-' * 12}|{'-' * 24}|{'-' * 11}|{'-' * 10}|{'-' * 10}|{'-' * 9}|------")
    for figures in results:
        print(figures.row())
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
