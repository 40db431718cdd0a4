"""Free slot generation from opening windows, occupied cells and closures. Pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduling.clock import CELL, ceil_to_cell, wall_to_utc


@dataclass(frozen=True, slots=True)
class WeeklyOpening:
    """One weekly opening of a practitioner, in local wall-clock time (Monday = 0)."""

    practitioner_id: int
    weekday: int
    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Window:
    """An opening on one date, as UTC instants."""

    practitioner_id: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class Closure:
    """A closed period: ``practitioner_id`` None closes the whole practice."""

    practitioner_id: int | None
    starts_at: datetime
    ends_at: datetime

    def closes(self, practitioner_id: int, starts_at: datetime, ends_at: datetime) -> bool:
        mine = self.practitioner_id is None or self.practitioner_id == practitioner_id
        return mine and self.starts_at < ends_at and starts_at < self.ends_at


def windows_on(day: date, openings: Iterable[WeeklyOpening], zone: ZoneInfo) -> list[Window]:
    """The opening windows of ``day`` (a local date), converted to UTC across DST changes."""
    found = []
    for opening in openings:
        if opening.weekday != day.weekday():
            continue
        starts_at = wall_to_utc(day, opening.start, zone)
        ends_at = wall_to_utc(day, opening.end, zone, window_end=True)
        if starts_at < ends_at:
            found.append(Window(opening.practitioner_id, starts_at, ends_at))
    return found


def free_starts(
    window: Window,
    duration: timedelta,
    busy: set[datetime],
    closures: Sequence[Closure],
    earliest: datetime,
) -> Iterator[datetime]:
    """Starts of free slots of ``duration`` in ``window``, earliest first.

    Slots follow each other from the start of the window; after an occupied cell or a
    closure the next candidate is the first free cell, so gaps are not lost.
    """
    moment = window.starts_at
    while moment + duration <= window.ends_at:
        if moment < earliest:
            moment += duration * max(1, -(-(earliest - moment) // duration))
            continue
        end = moment + duration
        blocked = _first_busy_cell(moment, end, busy)
        if blocked is not None:
            moment = blocked + CELL
            continue
        closure_end = _closure_end(window.practitioner_id, moment, end, closures)
        if closure_end is not None:
            moment = max(moment + CELL, ceil_to_cell(closure_end))
            continue
        yield moment
        moment = end


def _first_busy_cell(start: datetime, end: datetime, busy: set[datetime]) -> datetime | None:
    cell = start
    while cell < end:
        if cell in busy:
            return cell
        cell += CELL
    return None


def _closure_end(
    practitioner_id: int, start: datetime, end: datetime, closures: Sequence[Closure]
) -> datetime | None:
    ends = [c.ends_at for c in closures if c.closes(practitioner_id, start, end)]
    return max(ends) if ends else None


def fits_opening(
    practitioner_id: int,
    starts_at: datetime,
    ends_at: datetime,
    windows: Iterable[Window],
    closures: Sequence[Closure],
) -> bool:
    """True when [starts_at, ends_at) lies inside one window and touches no closure."""
    inside = any(
        w.practitioner_id == practitioner_id and w.starts_at <= starts_at and ends_at <= w.ends_at
        for w in windows
    )
    return inside and not any(c.closes(practitioner_id, starts_at, ends_at) for c in closures)
