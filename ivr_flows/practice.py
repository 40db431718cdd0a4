"""What a flow knows about the practice it answers for: names, doctors, visit types, hours."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from typing import Any

from sqlalchemy import select

from scheduling import lookup
from storage.db import Database
from storage.models import OpeningTemplate, Practitioner, VisitType

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Doctor:
    id: int
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class VisitKind:
    code: str
    label: str
    phone_bookable: bool
    min_cancel_notice_minutes: int = 0


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
    settings: dict[str, Any] = field(default_factory=dict)

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


def load_practice(db: Database, ref: int | str) -> PracticeInfo:
    """Read the practice ``ref`` (id or slug); raises scheduling's UnknownPractice."""
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
        return PracticeInfo(
            id=place.id,
            slug=place.slug,
            name=place.name,
            timezone=place.timezone,
            doctors=tuple(Doctor(p.id, p.slug, p.display_name) for p in people),
            visit_kinds=tuple(
                VisitKind(k.code, k.label, k.phone_bookable, k.min_cancel_notice_minutes)
                for k in kinds
            ),
            hours={day: _merge(spans) for day, spans in windows.items()},
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
