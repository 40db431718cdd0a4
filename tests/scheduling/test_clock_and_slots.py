"""Wall-clock to UTC across DST changes, and free-slot generation (pure functions)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduling.clock import ceil_to_cell, on_cell_grid, wall_to_utc
from scheduling.slots import Closure, WeeklyOpening, Window, free_starts, windows_on

PARIS = ZoneInfo("Europe/Paris")
SPRING = date(2030, 3, 31)  # 02:00 -> 03:00
AUTUMN = date(2030, 10, 27)  # 03:00 -> 02:00


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_ordinary_wall_time_is_the_local_time_of_the_day() -> None:
    assert wall_to_utc(date(2030, 1, 7), time(9), PARIS) == utc(2030, 1, 7, 8)
    assert wall_to_utc(date(2030, 7, 1), time(9), PARIS) == utc(2030, 7, 1, 7)


def test_nine_o_clock_stays_nine_o_clock_on_both_sides_of_each_change() -> None:
    for before, after in ((SPRING - timedelta(days=1), SPRING + timedelta(days=1)),
                          (AUTUMN - timedelta(days=1), AUTUMN + timedelta(days=1))):
        for day in (before, after):
            assert wall_to_utc(day, time(9), PARIS).astimezone(PARIS).time() == time(9)
    assert wall_to_utc(SPRING - timedelta(days=1), time(9), PARIS) == utc(2030, 3, 30, 8)
    assert wall_to_utc(SPRING + timedelta(days=1), time(9), PARIS) == utc(2030, 4, 1, 7)


def test_a_time_skipped_by_the_spring_change_moves_to_the_jump() -> None:
    jump = utc(2030, 3, 31, 1)  # 02:00 CET became 03:00 CEST
    assert wall_to_utc(SPRING, time(2, 30), PARIS) == jump
    assert wall_to_utc(SPRING, time(2, 30), PARIS, window_end=True) == jump


def test_a_time_repeated_by_the_autumn_change_spans_both_occurrences() -> None:
    assert wall_to_utc(AUTUMN, time(2, 30), PARIS) == utc(2030, 10, 27, 0, 30)  # CEST
    assert wall_to_utc(AUTUMN, time(2, 30), PARIS, window_end=True) == utc(2030, 10, 27, 1, 30)


def test_windows_over_the_changes_last_the_real_time_that_passes() -> None:
    night = [WeeklyOpening(1, 6, time(1), time(4))]  # Sunday 01:00-04:00
    (spring,) = windows_on(SPRING, night, PARIS)
    (autumn,) = windows_on(AUTUMN, night, PARIS)
    assert spring.ends_at - spring.starts_at == timedelta(hours=2)
    assert autumn.ends_at - autumn.starts_at == timedelta(hours=4)
    half_hour = timedelta(minutes=30)
    spring_slots = list(free_starts(spring, half_hour, set(), [], spring.starts_at))
    assert [s.astimezone(PARIS).strftime("%H:%M") for s in spring_slots] == [
        "01:00", "01:30", "03:00", "03:30"]
    assert len(list(free_starts(autumn, half_hour, set(), [], autumn.starts_at))) == 8
    (gap,) = windows_on(SPRING, [WeeklyOpening(1, 6, time(2), time(4))], PARIS)
    assert gap.starts_at.astimezone(PARIS).time() == time(3)


def test_windows_only_on_their_weekday() -> None:
    monday = [WeeklyOpening(1, 0, time(9), time(12))]
    assert windows_on(date(2030, 1, 7), monday, PARIS)
    assert windows_on(date(2030, 1, 8), monday, PARIS) == []


def _window() -> Window:
    return Window(1, utc(2030, 1, 7, 8), utc(2030, 1, 7, 10))  # 2 hours


def test_free_starts_step_by_the_visit_length() -> None:
    starts = list(free_starts(_window(), timedelta(minutes=30), set(), [], utc(2030, 1, 1)))
    assert starts == [utc(2030, 1, 7, 8, m) for m in (0, 30)] + [
        utc(2030, 1, 7, 9, m) for m in (0, 30)]


def test_free_starts_skip_busy_cells_and_resume_right_after_them() -> None:
    busy = {utc(2030, 1, 7, 8, 20), utc(2030, 1, 7, 8, 25)}
    starts = list(free_starts(_window(), timedelta(minutes=20), busy, [], utc(2030, 1, 1)))
    assert starts[:3] == [utc(2030, 1, 7, 8, 0), utc(2030, 1, 7, 8, 30), utc(2030, 1, 7, 8, 50)]
    assert not any(s <= utc(2030, 1, 7, 8, 25) < s + timedelta(minutes=20) for s in starts)


def test_free_starts_respect_closures_of_the_practitioner_or_practice_only() -> None:
    closed = [Closure(None, utc(2030, 1, 7, 8), utc(2030, 1, 7, 9)),
              Closure(2, utc(2030, 1, 7, 9), utc(2030, 1, 7, 10))]
    starts = list(free_starts(_window(), timedelta(minutes=30), set(), closed, utc(2030, 1, 1)))
    assert starts[0] == utc(2030, 1, 7, 9)
    assert len(starts) == 2


def test_free_starts_keep_the_grid_after_the_earliest_time() -> None:
    starts = list(free_starts(_window(), timedelta(minutes=20), set(), [],
                              utc(2030, 1, 7, 8, 7)))
    assert starts[0] == utc(2030, 1, 7, 8, 20)


def test_cell_grid() -> None:
    assert on_cell_grid(utc(2030, 1, 7, 8, 5))
    assert not on_cell_grid(utc(2030, 1, 7, 8, 6))
    assert not on_cell_grid(datetime(2030, 1, 7, 8, 5))
    assert ceil_to_cell(utc(2030, 1, 7, 8, 6, 1)) == utc(2030, 1, 7, 8, 10)
    assert ceil_to_cell(utc(2030, 1, 7, 8, 10)) == utc(2030, 1, 7, 8, 10)
