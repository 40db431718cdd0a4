"""find_slots with each filter, closures, DST, and refusals, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduling.errors import UnknownPractice, UnknownPractitioner, UnknownVisitType
from scheduling.practices import add_closure
from scheduling.values import Channel, Reason, Refused, Slot
from storage.models import ExceptionKind
from tests.scheduling.conftest import NOW, STAFF, Practice

PARIS = ZoneInfo("Europe/Paris")


def local(slot: Slot) -> str:
    return slot.starts_at.astimezone(PARIS).strftime("%a %d %H:%M")


def slots(practice: Practice, visit: str = "consultation", **kwargs: object) -> list[Slot]:
    kwargs.setdefault("now", NOW)
    found = practice.agenda.find_slots(practice.id, visit, **kwargs)
    assert isinstance(found, list)
    return found


def test_earliest_slots_of_every_practitioner_in_time_order(practice: Practice) -> None:
    found = slots(practice, limit=4)
    assert [(local(s), s.practitioner_name) for s in found] == [
        ("Mon 07 09:00", "Docteure A"),
        ("Mon 07 09:00", "Docteur B"),
        ("Mon 07 09:20", "Docteure A"),
        ("Mon 07 09:20", "Docteur B"),
    ]
    first = found[0]
    assert first.ends_at - first.starts_at == timedelta(minutes=20)
    assert first.starts_at.tzinfo is not None and first.visit_type_code == "consultation"


def test_filters_practitioner_day_part_after_and_limit(practice: Practice) -> None:
    by_b = slots(practice, practitioner="dr-b", limit=20)
    assert {s.practitioner_id for s in by_b} == {practice.dr_b}
    wednesday = slots(practice, day=date(2030, 1, 9), limit=50)
    assert {s.starts_at.astimezone(PARIS).date() for s in wednesday} == {date(2030, 1, 9)}
    afternoon = slots(practice, part_of_day="afternoon", limit=5)
    assert all(s.starts_at.astimezone(PARIS).hour >= 14 for s in afternoon)
    morning = slots(practice, part_of_day="morning", practitioner="dr-b", limit=50,
                    day=date(2030, 1, 7))
    # dr-b's 12:00-12:20 visit ends his morning surgery: still a morning slot
    assert local(morning[-1]) == "Mon 07 12:00"
    after = slots(practice, after=datetime(2030, 1, 8, 15, 5, tzinfo=UTC), limit=1)
    assert local(after[0]) == "Tue 08 16:20"
    assert len(slots(practice, limit=7)) == 7


def test_notice_and_closed_days(practice: Practice) -> None:
    later = NOW + timedelta(hours=3)  # 10:00 local: with 1 hour notice, 11:00 at the earliest
    assert local(slots(practice, now=later)[0]) == "Mon 07 11:00"
    staff = practice.agenda.find_slots(practice.id, "consultation", now=later, by=Channel.STAFF)
    assert isinstance(staff, list) and local(staff[0]) == "Mon 07 10:00"
    sunday = slots(practice, day=date(2030, 1, 13))
    assert sunday == []
    assert slots(practice, day=date(2030, 1, 1)) == []  # in the past


def test_holidays_and_absences_offer_no_slot(practice: Practice) -> None:
    monday = datetime(2030, 1, 7, tzinfo=PARIS)
    with practice.db.session() as session:
        add_closure(session, practice.id, ExceptionKind.HOLIDAY, monday,
                    monday + timedelta(days=1), now=NOW, actor=STAFF)
        add_closure(session, practice.id, ExceptionKind.ABSENCE,
                    monday + timedelta(days=1), monday + timedelta(days=2),
                    practitioner="dr-b", now=NOW, actor=STAFF)
        add_closure(session, practice.id, ExceptionKind.BLOCKED,
                    datetime(2030, 1, 8, 9, 0, tzinfo=PARIS),
                    datetime(2030, 1, 8, 9, 30, tzinfo=PARIS), practitioner="dr-a", now=NOW,
                    actor=STAFF)
    found = slots(practice, limit=3)
    assert [(local(s), s.practitioner_name) for s in found] == [
        ("Tue 08 09:30", "Docteure A"),
        ("Tue 08 09:50", "Docteure A"),
        ("Tue 08 10:10", "Docteure A"),
    ]


def test_nine_o_clock_is_nine_o_clock_on_both_sides_of_dst_changes(practice: Practice) -> None:
    for saturday, monday in ((date(2030, 3, 30), date(2030, 4, 1)),
                             (date(2030, 10, 26), date(2030, 10, 28))):
        for day in (saturday, monday):
            first = slots(practice, day=day, practitioner="dr-a", limit=1)[0]
            assert first.starts_at.astimezone(PARIS).time() == time(9)
        before = slots(practice, day=saturday, practitioner="dr-a", limit=1)[0]
        after = slots(practice, day=monday, practitioner="dr-a", limit=1)[0]
        assert before.starts_at.utcoffset() == after.starts_at.utcoffset() == timedelta(0)
        assert before.starts_at.hour != after.starts_at.hour  # UTC moved, the wall clock did not


def test_not_bookable_by_phone_is_a_refusal_staff_still_sees_slots(practice: Practice) -> None:
    refused = practice.agenda.find_slots(practice.id, "chirurgie", now=NOW)
    assert isinstance(refused, Refused) and refused.reason is Reason.NOT_BOOKABLE_BY_PHONE
    staff = practice.agenda.find_slots(practice.id, "chirurgie", now=NOW, by=Channel.STAFF)
    assert isinstance(staff, list) and staff


def test_unknown_names_are_typed_errors(practice: Practice) -> None:
    with pytest.raises(UnknownPractice):
        practice.agenda.find_slots("nowhere", "consultation", now=NOW)
    with pytest.raises(UnknownVisitType, match="consultation"):
        practice.agenda.find_slots("tilleuls", "massage", now=NOW)
    with pytest.raises(UnknownPractitioner):
        practice.agenda.find_slots("tilleuls", "consultation", practitioner="dr-z", now=NOW)
