"""Opening hours for the ear: today's windows and the next opening (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ivr_flows import opening

PARIS = ZoneInfo("Europe/Paris")
WEEK = {d: ((time(8, 30), time(12, 0)), (time(14, 0), time(18, 30))) for d in range(5)}
WEEK[5] = ((time(9, 0), time(12, 0)),)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


def test_today_is_the_windows_of_the_local_day() -> None:
    monday_late = at("2030-01-07T23:30").astimezone(UTC)  # already Monday 22:30 UTC
    assert opening.hours_today(WEEK, (), monday_late, PARIS) == list(WEEK[0])
    assert opening.hours_today(WEEK, (), at("2030-01-13T10:00"), PARIS) == []  # Sunday


def test_the_next_opening_after_lunch_the_next_morning_and_after_the_weekend() -> None:
    assert opening.next_opening(WEEK, (), at("2030-01-07T12:30"), PARIS) == at(
        "2030-01-07T14:00")
    assert opening.next_opening(WEEK, (), at("2030-01-07T19:00"), PARIS) == at(
        "2030-01-08T08:30")
    assert opening.next_opening(WEEK, (), at("2030-01-12T12:00"), PARIS) == at(
        "2030-01-14T08:30")  # Saturday noon → Monday
    assert opening.next_opening(WEEK, (), at("2030-01-07T09:00"), PARIS) == at(
        "2030-01-07T14:00")  # open now: the next window
    assert opening.next_opening({}, (), at("2030-01-07T09:00"), PARIS) is None


def test_a_closure_cuts_the_windows_it_overlaps() -> None:
    closed = [(at("2030-01-07T10:00"), at("2030-01-07T15:00"))]
    assert opening.hours_today(WEEK, closed, at("2030-01-07T07:00"), PARIS) == [
        (time(8, 30), time(10, 0)), (time(15, 0), time(18, 30))]
    assert not opening.is_open(WEEK, closed, at("2030-01-07T11:00"), PARIS)
    assert opening.is_open(WEEK, closed, at("2030-01-07T09:00"), PARIS)
    assert opening.next_opening(WEEK, closed, at("2030-01-07T10:30"), PARIS) == at(
        "2030-01-07T15:00")
    week_off = [(at("2030-01-07T00:00"), at("2030-01-07T00:00") + timedelta(days=7))]
    assert opening.next_opening(WEEK, week_off, at("2030-01-07T07:00"), PARIS) == at(
        "2030-01-14T08:30")


def test_the_day_the_clocks_go_forward_keeps_local_times() -> None:
    sunday_change = {6: ((time(1, 0), time(5, 0)),)}
    windows = opening.windows_on(sunday_change, (), at("2030-03-31T00:00").date(), PARIS)
    assert [(s.hour, e.hour) for s, e in windows] == [(1, 5)]
    start, end = (moment.astimezone(UTC) for moment in windows[0])
    assert end - start == timedelta(hours=3)  # one hour is skipped
