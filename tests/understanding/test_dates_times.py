"""Birth dates, times and moments (`when`): edge cases."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from ivr_flows.understanding import parse_birth_date, parse_time, parse_when, wants_soonest

TODAY = date(2025, 3, 12)
NOW = datetime(2025, 3, 12, 9, 30)  # a Wednesday


@pytest.mark.parametrize(("text", "lang", "expected"), [
    ("le 12 mars 1985", "fr", date(1985, 3, 12)),
    ("douze trois quatre-vingt-cinq", "fr", date(1985, 3, 12)),
    ("12 03 85", "fr", date(1985, 3, 12)),
    ("premier avril deux mille un", "fr", date(2001, 4, 1)),
    ("March the twelfth, nineteen eighty-five", "en", date(1985, 3, 12)),
    ("12th of March 1985", "en", date(1985, 3, 12)),
    ("3/12/1985", "en", date(1985, 12, 3)),     # day first, as in the UK and France
    ("3/25/1985", "en", date(1985, 3, 25)),     # 25 cannot be a month: US order
    ("1985-03-12", "fr", date(1985, 3, 12)),    # year first
])
def test_birth_date_forms(text, lang, expected):
    assert parse_birth_date(text, lang, TODAY) == expected


def test_two_digit_year_never_gives_a_future_birth():
    assert parse_birth_date("le 11 mars 25", "fr", TODAY) == date(2025, 3, 11)
    assert parse_birth_date("le 13 mars 25", "fr", TODAY) == date(1925, 3, 13)
    assert parse_birth_date("1 1 24", "fr", TODAY) == date(2024, 1, 1)


@pytest.mark.parametrize("text", [
    "31 février 1990", "le 29 février 2001", "trente et un avril quatre-vingt", "le 5 mai 2030",
    "le 12 mars", "1 1 1850", "bonjour", "",
])
def test_invalid_future_or_incomplete_birth_dates(text):
    assert parse_birth_date(text, "fr", TODAY) is None


def test_may_as_a_verb_is_not_a_month():
    text = "may I give you my date of birth, twelve three eighty five"
    assert parse_birth_date(text, "en", TODAY) == date(1985, 3, 12)
    assert parse_birth_date("the fifth of May eighty", "en", TODAY) == date(1980, 5, 5)


def test_leap_day():
    assert parse_birth_date("le vingt-neuf février deux mille", "fr", TODAY) == date(2000, 2, 29)


@pytest.mark.parametrize(("text", "lang", "expected"), [
    ("midi", "fr", time(12, 0)),
    ("minuit", "fr", time(0, 0)),
    ("onze heures moins le quart", "fr", time(10, 45)),
    ("quinze heures moins dix", "fr", time(14, 50)),
    ("à deux heures", "fr", time(14, 0)),        # a bare 1..6 is the afternoon
    ("deux heures du matin", "fr", time(2, 0)),
    ("vingt-deux heures", "fr", time(22, 0)),
    ("at half past ten", "en", time(10, 30)),
    ("quarter to three", "en", time(14, 45)),
    ("seven am", "en", time(7, 0)),
    ("twelve pm", "en", time(12, 0)),
    ("midnight", "en", time(0, 0)),
    ("le 3 décembre", "fr", None),
    ("trente heures", "fr", None),
])
def test_times(text, lang, expected):
    assert parse_time(text, lang) == expected


def test_weekday_said_on_that_day_is_next_week_unless_this():
    wednesday = NOW
    assert parse_when("mercredi", "fr", wednesday).day == date(2025, 3, 19)
    assert parse_when("ce mercredi", "fr", wednesday).day == date(2025, 3, 12)
    assert parse_when("this wednesday", "en", wednesday).day == date(2025, 3, 12)
    assert parse_when("lundi en huit", "fr", wednesday).day == date(2025, 3, 24)


def test_today_window_starts_now_and_keeps_timezone():
    paris = timezone(timedelta(hours=1))
    now = datetime(2025, 3, 12, 14, 10, tzinfo=paris)
    when = parse_when("cet après-midi", "fr", now)
    assert when.day == date(2025, 3, 12) and when.part_of_day == "afternoon"
    assert when.earliest == now
    assert when.latest == datetime(2025, 3, 12, 18, 0, tzinfo=paris)


def test_day_month_without_year_is_the_next_one():
    assert parse_when("le 11 mars", "fr", NOW).day == date(2026, 3, 11)
    assert parse_when("le 12 mars", "fr", NOW).day == date(2025, 3, 12)


def test_before_and_around():
    before = parse_when("demain avant dix heures", "fr", NOW)
    assert before.earliest == datetime(2025, 3, 13, 8, 0)
    assert before.latest == datetime(2025, 3, 13, 10, 0)
    assert before.time is None and before.part_of_day == "morning"
    assert parse_when("demain avant midi", "fr", NOW).part_of_day == "morning"
    around = parse_when("tomorrow around 3 pm", "en", NOW)
    assert around.time == time(15, 0)
    assert (around.earliest, around.latest) == (datetime(2025, 3, 13, 14, 30),
                                                 datetime(2025, 3, 13, 15, 30))


def test_nothing_about_time_gives_none():
    assert parse_when("je voudrais un rendez-vous", "fr", NOW) is None
    assert parse_when("hello", "en", NOW) is None


@pytest.mark.parametrize("text, lang", [
    ("le plus tôt possible", "fr"), ("dès que possible s'il vous plaît", "fr"),
    ("n'importe quand", "fr"), ("peu importe", "fr"), ("le premier créneau libre", "fr"),
    ("as soon as possible", "en"), ("any time", "en"), ("the first available", "en"),
    ("I don't mind", "en"), ("whenever", "en"),
])
def test_the_first_free_time_in_words(text, lang):
    assert wants_soonest(text, lang)


@pytest.mark.parametrize("text, lang", [
    ("demain matin", "fr"), ("non", "fr"), ("le premier mars", "fr"), ("plus tard", "fr"),
    ("next week", "en"), ("the first of March", "en"), ("no", "en"),
])
def test_a_day_or_a_no_is_not_the_first_free_time(text, lang):
    assert not wants_soonest(text, lang)
