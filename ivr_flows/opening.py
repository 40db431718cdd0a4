"""Opening hours for the ear: today's hours and the next opening, not the whole week.

Pure functions over weekly hours (weekday, Monday = 0 → local opening windows) and the
practice's closures (aware UTC intervals: holidays, the practice closed). A closure cuts
the windows it overlaps. ``now`` is any aware instant; answers are in the practice's
local time (``zone``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Hours = dict[int, tuple[tuple[time, time], ...]]
Closure = tuple[datetime, datetime]  # aware; the practice is closed from start to end
LOOK_AHEAD_DAYS = 60


def windows_on(hours: Hours, closures: Iterable[Closure], day: date,
               zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The local (aware) opening windows of ``day``, with the closures cut out."""
    windows = []
    for start, end in hours.get(day.weekday(), ()):
        windows.append((datetime.combine(day, start, zone), datetime.combine(day, end, zone)))
    for shut_start, shut_end in closures:
        kept = []
        for start, end in windows:
            if shut_end <= start or shut_start >= end:
                kept.append((start, end))
                continue
            if start < shut_start:
                kept.append((start, shut_start.astimezone(zone)))
            if shut_end < end:
                kept.append((shut_end.astimezone(zone), end))
        windows = kept
    return windows


def hours_today(hours: Hours, closures: Iterable[Closure], now: datetime,
                zone: ZoneInfo) -> list[tuple[time, time]]:
    """Today's opening windows as local wall-clock times (empty: closed all day)."""
    today = now.astimezone(zone).date()
    return [(start.timetz().replace(tzinfo=None), end.timetz().replace(tzinfo=None))
            for start, end in windows_on(hours, list(closures), today, zone)]


def is_open(hours: Hours, closures: Iterable[Closure], now: datetime, zone: ZoneInfo) -> bool:
    """Whether ``now`` falls in an opening window (closures count)."""
    local = now.astimezone(zone)
    return any(start <= local < end
               for start, end in windows_on(hours, list(closures), local.date(), zone))


def next_opening(hours: Hours, closures: Iterable[Closure], now: datetime,
                 zone: ZoneInfo, *, look_ahead_days: int = LOOK_AHEAD_DAYS) -> datetime | None:
    """When the practice next opens after ``now`` (local, aware), or None within the
    look-ahead. While open, this is the start of the next window (after a lunch break,
    or another day)."""
    closures = list(closures)
    local = now.astimezone(zone)
    for offset in range(look_ahead_days + 1):
        day = local.date() + timedelta(days=offset)
        for start, _end in windows_on(hours, closures, day, zone):
            if start > local:
                return start
    return None
