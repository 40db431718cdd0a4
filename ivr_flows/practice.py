"""What a flow knows about the practice it answers for: names, doctors, visit types, hours,
and what it tells callers (address, access, new patients, emergency numbers: the
practice's profile, ``scheduling.practice_profile``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ivr_flows import opening
from scheduling import lookup
from scheduling.practice_profile import EUROPEAN_EMERGENCY, SAMU, profile
from storage.db import Database
from storage.models import OpeningTemplate, Practitioner, ScheduleException, VisitType

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Doctor:
    id: int
    slug: str
    name: str
    accepts_new_patients: bool = True


@dataclass(frozen=True, slots=True)
class VisitKind:
    code: str
    label: str
    phone_bookable: bool
    min_cancel_notice_minutes: int = 0
    new_patients_allowed: bool = True


@dataclass(frozen=True)
class PracticeInfo:
    id: int
    slug: str
    name: str
    timezone: str
    doctors: tuple[Doctor, ...]
    visit_kinds: tuple[VisitKind, ...]
    # weekday (Monday = 0) -> opening windows of the practice (any doctor), local time
    hours: dict[int, tuple[tuple[time, time], ...]]
    settings: dict[str, Any] = field(default_factory=dict)  # e.g. "secretaries": its line
    # -- what callers are told (the practice's profile) --
    spoken_name: str = ""  # as said in the greeting ("le cabinet médical des Tilleuls")
    address: str | None = None  # written for the ear
    access: str | None = None
    accepts_new_patients: bool = True  # the practice; each Doctor says it for themself
    samu_number: str = SAMU
    emergency_number: str = EUROPEAN_EMERGENCY
    sos_medecins_number: str | None = None
    on_call_number: str | None = None
    pharmacy_number: str | None = None  # pharmacie de garde (3237)
    duplicate_window_days: int = 0  # a second visit of a type within this: to a secretary
    privacy_contact: str | None = None
    closures: tuple[opening.Closure, ...] = ()  # practice closed (aware UTC), coming weeks
    # how a transfer rings the secretaries' console softphones: all at once ("ring_all")
    # or "hunt": hunt_order's logins one after another, hunt_seconds each
    desk_ring: str = "ring_all"
    hunt_order: tuple[str, ...] = ()
    hunt_seconds: int = 15

    @property
    def greeting_name(self) -> str:
        return self.spoken_name or self.name

    @property
    def new_patient_doctors(self) -> tuple[Doctor, ...]:
        """The doctors a new patient may book with (none when the practice takes none)."""
        if not self.accepts_new_patients:
            return ()
        return tuple(d for d in self.doctors if d.accepts_new_patients)

    def hours_today(self, now: datetime, hours: dict[int, tuple[tuple[time, time], ...]]
                    | None = None) -> list[tuple[time, time]]:
        """Today's opening windows, local wall-clock (empty: closed today); ``hours``
        overrides the doctors' hours (a flow's own ``opening_hours``)."""
        return opening.hours_today(self.hours if hours is None else hours, self.closures,
                                   now, self.zone)

    def next_opening(self, now: datetime, hours: dict[int, tuple[tuple[time, time], ...]]
                     | None = None) -> datetime | None:
        """When the practice next opens after ``now`` (local, aware), None if not soon."""
        return opening.next_opening(self.hours if hours is None else hours, self.closures,
                                    now, self.zone)

    def is_open(self, now: datetime, hours: dict[int, tuple[tuple[time, time], ...]]
                | None = None) -> bool:
        return opening.is_open(self.hours if hours is None else hours, self.closures, now,
                               self.zone)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def phone_visit_kinds(self) -> tuple[VisitKind, ...]:
        return tuple(k for k in self.visit_kinds if k.phone_bookable)

    def visit_kind(self, code: str) -> VisitKind | None:
        return next((k for k in self.visit_kinds if k.code == code), None)

    def doctor(self, ref: int | str) -> Doctor | None:
        for doc in self.doctors:
            if ref in (doc.id, doc.slug):
                return doc
        return None


def load_practice(db: Database, ref: int | str, now: datetime | None = None) -> PracticeInfo:
    """Read the practice ``ref`` (id or slug); raises scheduling's UnknownPractice."""
    now = now or datetime.now(UTC)
    with db.session() as session:
        place = lookup.practice(session, ref)
        people = session.scalars(
            select(Practitioner)
            .where(Practitioner.practice_id == place.id, Practitioner.active.is_(True))
            .order_by(Practitioner.id)
        ).all()
        kinds = session.scalars(
            select(VisitType).where(VisitType.practice_id == place.id).order_by(VisitType.id)
        ).all()
        windows: dict[int, list[tuple[time, time]]] = {}
        if people:
            rows = session.scalars(
                select(OpeningTemplate).where(
                    OpeningTemplate.practitioner_id.in_([p.id for p in people])
                )
            )
            for row in rows:
                windows.setdefault(row.weekday, []).append((row.start_time, row.end_time))
        about = profile(session, place.id)
        shut = session.execute(select(ScheduleException.starts_at, ScheduleException.ends_at)
                               .where(ScheduleException.practice_id == place.id,
                                      ScheduleException.practitioner_id.is_(None),
                                      ScheduleException.ends_at > now,
                                      ScheduleException.starts_at < now + timedelta(
                                          days=opening.LOOK_AHEAD_DAYS + 1))
                               .order_by(ScheduleException.starts_at)).all()
        return PracticeInfo(
            id=place.id,
            slug=place.slug,
            name=place.name,
            timezone=place.timezone,
            doctors=tuple(Doctor(p.id, p.slug, p.display_name, p.accepts_new_patients)
                          for p in people),
            visit_kinds=tuple(
                VisitKind(k.code, k.label, k.phone_bookable, k.min_cancel_notice_minutes,
                          k.new_patients_allowed)
                for k in kinds
            ),
            hours={day: _merge(spans) for day, spans in windows.items()},
            settings={"secretaries": about.secretary_line} if about.secretary_line else {},
            spoken_name=about.spoken_name or "", address=about.address, access=about.access,
            accepts_new_patients=about.accepts_new_patients,
            sos_medecins_number=about.sos_medecins_number, on_call_number=about.on_call_number,
            pharmacy_number=about.pharmacy_number,
            duplicate_window_days=about.duplicate_window_days,
            privacy_contact=about.privacy_contact,
            closures=tuple((start, end) for start, end in shut),
            desk_ring=about.desk_ring, hunt_order=about.hunt_order,
            hunt_seconds=about.hunt_seconds,
        )


def _merge(spans: list[tuple[time, time]]) -> tuple[tuple[time, time], ...]:
    merged: list[tuple[time, time]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def parse_hours(value: Any) -> dict[int, tuple[tuple[time, time], ...]] | str:
    """Read ``opening_hours: {mon: ["08:30-12:00", ...], ...}``; a string says what is wrong."""
    if not isinstance(value, dict):
        return "opening_hours must map days (mon..sun) to lists of HH:MM-HH:MM"
    result: dict[int, tuple[tuple[time, time], ...]] = {}
    for day, spans in value.items():
        if day not in WEEKDAYS:
            return f"unknown day {day!r}; use mon, tue, wed, thu, fri, sat, sun"
        items = [spans] if isinstance(spans, str) else spans
        if not isinstance(items, list):
            return f"{day}: write a list such as [\"08:30-12:00\", \"14:00-18:00\"]"
        parsed = []
        for span in items:
            try:
                start_text, end_text = str(span).split("-")
                start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(
                    end_text.strip())
            except ValueError:
                return f"{day}: {span!r} is not HH:MM-HH:MM"
            if start >= end:
                return f"{day}: {span!r} ends before it starts"
            parsed.append((start, end))
        result[WEEKDAYS.index(day)] = _merge(parsed)
    return result
