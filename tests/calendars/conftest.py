"""A real Radicale server, the demo practice (on a fixed Monday) and Telesec's calendar sync.

The server runs for the whole session (each test makes its own calendar collections);
tests that stop it start their own. Telesec talks to it through the ``caldav`` library;
the "doctor's phone" is a second ``caldav`` client editing the same collection.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import caldav
import pytest
from icalendar import Calendar, Event
from sqlalchemy import select

from calendars.credentials import checked_source
from calendars.links import link_calendar
from calendars.sync import CalendarSync
from foundation.settings import CalendarSettings
from scheduling.service import Agenda
from storage.db import Database
from storage.models import ImportedBusy, Practitioner
from tests.calendars.radicale_server import RadicaleServer
from tests.flows.conftest import NOW, Demo, demo, demo_any  # noqa: F401 (fixtures)

DOCTOR, DOCTOR_PASSWORD = "lambert", "mot de passe du cabinet"
ADMIN = "cli:test-admin"


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    server = RadicaleServer(tmp_path_factory.mktemp("radicale"),
                            {DOCTOR: DOCTOR_PASSWORD, "moreau": "autre mot de passe"})
    server.start()
    yield server
    server.stop()


@dataclass
class CalendarWorld:
    demo: Demo
    radicale: RadicaleServer
    url: str
    sync: CalendarSync
    lambert: int
    moreau: int

    @property
    def db(self) -> Database:
        return self.demo.db

    @property
    def agenda(self) -> Agenda:
        return Agenda(self.demo.db)

    def phone(self) -> caldav.Calendar:
        """The doctor's phone: another caldav client on the same collection."""
        client = self.radicale.client(DOCTOR)
        return client.calendar(url=self.url)

    def link(self, practitioner_id: int | None = None, url: str | None = None,
             kind: str = "caldav", owner: str | None = None) -> None:
        with self.db.session() as session:
            link_calendar(session, self.demo.vault.keyring, self.demo.practice_id,
                          practitioner_id or self.lambert,
                          checked_source(kind, url or self.url, DOCTOR, DOCTOR_PASSWORD),
                          owner_addresses=owner, actor=ADMIN, now=self.demo.clock_at[0])

    def busy(self, practitioner_id: int | None = None) -> list[tuple[datetime, datetime, str]]:
        with self.db.read_session() as session:
            return [(b.starts_at, b.ends_at, str(b.attendance)) for b in session.scalars(
                select(ImportedBusy).where(
                    ImportedBusy.practitioner_id == (practitioner_id or self.lambert))
                .order_by(ImportedBusy.starts_at))]


def make_world(demo: Demo, radicale: RadicaleServer) -> CalendarWorld:  # noqa: F811
    name = f"cabinet-{uuid.uuid4().hex[:8]}"
    url = radicale.make_calendar(DOCTOR, name)
    with demo.db.read_session() as session:
        ids = {p.slug: p.id for p in session.scalars(select(Practitioner))}
    sync = CalendarSync(demo.db, demo.vault.keyring,
                        CalendarSettings(timeout_seconds=5, horizon_days=120),
                        clock=lambda: demo.clock_at[0])
    return CalendarWorld(demo, radicale, url, sync, ids["dr-lambert"], ids["dr-moreau"])


@pytest.fixture
def world(demo: Demo, radicale: RadicaleServer) -> CalendarWorld:  # noqa: F811
    """The demo practice on SQLite with dr-lambert's own calendar on Radicale (not linked)."""
    return make_world(demo, radicale)


@pytest.fixture
def world_any(demo_any: Demo, radicale: RadicaleServer) -> CalendarWorld:  # noqa: F811
    """The same on SQLite and on PostgreSQL in turn."""
    return make_world(demo_any, radicale)


def vcalendar(*events: Event) -> str:
    """What the doctor's phone stores: VEVENTs with the VTIMEZONEs they name."""
    calendar = Calendar()
    calendar.add("prodid", "-//Doctor's phone//FR")
    calendar.add("version", "2.0")
    for item in events:
        calendar.add_component(item)
    calendar.add_missing_timezones()
    return calendar.to_ical().decode()


def vevent(uid: str, start: date | datetime, end: date | datetime | None = None,
           summary: str = "Rendez-vous personnel", **properties: object) -> Event:
    item = Event()
    item.add("uid", uid)
    item.add("dtstamp", datetime(2029, 12, 1, tzinfo=UTC))
    item.add("dtstart", start)
    if end is not None:
        item.add("dtend", end)
    item.add("summary", summary)
    for name, value in properties.items():
        item.add(name.replace("_", "-"), value)
    return item


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A time of the week of NOW (Monday 7 January 2030) in UTC; day 0 is Monday."""
    return NOW.replace(hour=hour, minute=minute) + timedelta(days=day)


__all__ = ["ADMIN", "DOCTOR", "NOW", "CalendarWorld", "Path", "at", "vcalendar", "vevent"]
