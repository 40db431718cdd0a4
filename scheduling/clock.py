"""Wall-clock times of a practice and the UTC instants they stand for, across DST changes.

Opening hours are written in local wall-clock time. Turning one into an instant is
ambiguous twice a year, and handled deliberately here:

- clock set back (a wall time occurs twice): a window *start* is the first occurrence,
  a window *end* the last one, so the window covers every instant the clock shows a
  time inside it;
- clock set forward (a wall time never occurs): both a start and an end move to the
  instant of the jump, the first moment the clock shows a time at or after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CELL = timedelta(minutes=5)
_CELL_SECONDS = int(CELL.total_seconds())


def wall_to_utc(day: date, wall: time, zone: ZoneInfo, *, window_end: bool = False) -> datetime:
    """The UTC instant at which the clock of ``zone`` shows ``wall`` on ``day`` (see above)."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return first
    if first.astimezone(zone).replace(tzinfo=None) == naive:  # occurs twice
        return max(first, second) if window_end else min(first, second)
    return _jump_instant(min(first, second), max(first, second), zone)


def _jump_instant(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The first instant in (before, after] whose UTC offset is the one after the jump."""
    offset_after = after.astimezone(zone).utcoffset()
    low, high = before, after
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC instants of the local midnight starting ``day`` and the one ending it."""
    return (
        wall_to_utc(day, time(0), zone),
        wall_to_utc(day + timedelta(days=1), time(0), zone),
    )


def on_cell_grid(moment: datetime) -> bool:
    """True when ``moment`` is aware and falls on a 5-minute boundary of UTC."""
    if moment.tzinfo is None:
        return False
    return moment.timestamp() % _CELL_SECONDS == 0


def ceil_to_cell(moment: datetime) -> datetime:
    """The first 5-minute boundary at or after ``moment``."""
    stamp = moment.timestamp()
    rounded = -(-int(stamp) // _CELL_SECONDS) * _CELL_SECONDS
    if rounded < stamp:
        rounded += _CELL_SECONDS
    return datetime.fromtimestamp(rounded, UTC)


def cells(starts_at: datetime, ends_at: datetime) -> Iterator[datetime]:
    """The starts of the 5-minute cells covering [starts_at, ends_at)."""
    moment = starts_at.astimezone(UTC)
    end = ends_at.astimezone(UTC)
    while moment < end:
        yield moment
        moment += CELL


def require_aware(moment: datetime, what: str) -> datetime:
    """Return ``moment`` in UTC; a naive datetime is a programming error."""
    if moment.tzinfo is None:
        raise ValueError(f"{what} must be an aware datetime")
    return moment.astimezone(UTC)


def now_utc(now: datetime | None = None) -> datetime:
    """``now`` in UTC when a caller pins the time (tests, simulations), else the real time."""
    return datetime.now(UTC) if now is None else require_aware(now, "now")
