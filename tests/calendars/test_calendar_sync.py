"""Two-way sync with a real Radicale: import busy time, publish appointments, conflicts.

Telesec's client is the ``caldav`` library; the "doctor's phone" is a second ``caldav``
client editing the same collection between syncs. The practice is the demo practice on
Monday 7 January 2030 (Europe/Paris).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import vCalAddress
from sqlalchemy import func, select

from calendars.links import LinkStatus, open_conflicts, statuses, unlink_calendar
from scheduling.values import Booked, Channel, Refused, Slot
from storage.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    CalendarLink,
    CalendarOutbox,
    ImportedBusy,
)
from tests.calendars.conftest import ADMIN, NOW, CalendarWorld, vcalendar, vevent

NEW_YORK = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
OWNER = "claire.lambert@example.org"


def _slots(world: CalendarWorld, day: date, limit: int = 3) -> list[Slot]:
    found = world.agenda.find_slots(world.demo.practice_id, "consultation",
                                    practitioner=world.lambert, day=day, limit=limit, now=NOW,
                                    by=Channel.STAFF)
    assert isinstance(found, list)
    return found


def test_busy_time_imported_with_recurrences_time_zones_and_attendance(
        world_any: CalendarWorld) -> None:
    world = world_any
    world.link(owner=OWNER)
    phone = world.phone()
    # weekly on Tuesdays 09:00 in New York, the 15th skipped, the 22nd moved to 11:00
    weekly = vevent("weekly@phone", datetime(2030, 1, 8, 9, 0, tzinfo=NEW_YORK),
                    datetime(2030, 1, 8, 10, 0, tzinfo=NEW_YORK), rrule={"FREQ": "WEEKLY",
                                                                         "COUNT": 4},
                    exdate=datetime(2030, 1, 15, 9, 0, tzinfo=NEW_YORK))
    moved = vevent("weekly@phone", datetime(2030, 1, 22, 11, 0, tzinfo=NEW_YORK),
                   datetime(2030, 1, 22, 12, 0, tzinfo=NEW_YORK),
                   recurrence_id=datetime(2030, 1, 22, 9, 0, tzinfo=NEW_YORK))
    phone.add_event(vcalendar(weekly, moved))
    phone.add_event(vcalendar(vevent("congress@phone", date(2030, 1, 9), date(2030, 1, 10))))
    phone.add_event(vcalendar(vevent("reminder@phone", datetime(2030, 1, 10, 9, tzinfo=UTC),
                                     datetime(2030, 1, 10, 10, tzinfo=UTC),
                                     transp="TRANSPARENT")))
    phone.add_event(vcalendar(vevent("dentist@phone", datetime(2030, 1, 11, 8, tzinfo=UTC),
                                     datetime(2030, 1, 11, 9, tzinfo=UTC))))
    phone.add_event(vcalendar(vevent("called-off@phone", datetime(2030, 1, 11, 13, tzinfo=UTC),
                                     datetime(2030, 1, 11, 14, tzinfo=UTC),
                                     status="CANCELLED")))
    phone.add_event(vcalendar(vevent("maybe@phone", datetime(2030, 1, 10, 13, tzinfo=UTC),
                                     datetime(2030, 1, 10, 14, tzinfo=UTC), status="TENTATIVE")))
    declined = vevent("invite@colleague", datetime(2030, 1, 10, 15, tzinfo=UTC),
                      datetime(2030, 1, 10, 16, tzinfo=UTC))
    attendee = vCalAddress(f"mailto:{OWNER}")
    attendee.params["PARTSTAT"] = "DECLINED"
    declined.add("attendee", attendee)
    phone.add_event(vcalendar(declined))

    [first] = world.sync.sync_now()
    assert first.ok, first.message
    assert world.busy() == [
        (datetime(2030, 1, 8, 14, tzinfo=UTC), datetime(2030, 1, 8, 15, tzinfo=UTC), "busy"),
        (datetime(2030, 1, 8, 23, tzinfo=UTC), datetime(2030, 1, 9, 23, tzinfo=UTC), "busy"),
        (datetime(2030, 1, 10, 13, tzinfo=UTC), datetime(2030, 1, 10, 14, tzinfo=UTC),
         "tentative"),
        (datetime(2030, 1, 10, 15, tzinfo=UTC), datetime(2030, 1, 10, 16, tzinfo=UTC),
         "declined"),
        (datetime(2030, 1, 11, 8, tzinfo=UTC), datetime(2030, 1, 11, 9, tzinfo=UTC), "busy"),
        (datetime(2030, 1, 22, 16, tzinfo=UTC), datetime(2030, 1, 22, 17, tzinfo=UTC), "busy"),
        (datetime(2030, 1, 29, 14, tzinfo=UTC), datetime(2030, 1, 29, 15, tzinfo=UTC), "busy"),
    ]
    assert "7 new" in first.message

    # the phone deletes the dentist, makes "maybe" sure and later, adds a floating-time event
    phone.event_by_uid("dentist@phone").delete()
    phone.add_event(vcalendar(vevent("maybe@phone", datetime(2030, 1, 10, 15, 30, tzinfo=UTC),
                                     datetime(2030, 1, 10, 16, 30, tzinfo=UTC))))
    phone.add_event(vcalendar(vevent("floating@phone", datetime(2030, 1, 14, 10, 0),
                                     datetime(2030, 1, 14, 11, 0))))
    [second] = world.sync.sync_now()
    assert second.ok, second.message
    assert second.message.startswith("1 new, 1 changed, 1 deleted"), second.message
    assert second.requests <= 3  # sync-collection REPORT + one multiget (+ the login)
    busy = world.busy()
    assert (datetime(2030, 1, 11, 8, tzinfo=UTC), datetime(2030, 1, 11, 9, tzinfo=UTC),
            "busy") not in busy
    assert (datetime(2030, 1, 10, 15, 30, tzinfo=UTC), datetime(2030, 1, 10, 16, 30, tzinfo=UTC),
            "busy") in busy
    assert (datetime(2030, 1, 14, 9, tzinfo=UTC), datetime(2030, 1, 14, 10, tzinfo=UTC),
            "busy") in busy  # 10:00 floating = Paris time
    assert len(busy) == 7
    with world.db.read_session() as session:
        link = session.scalar(select(CalendarLink))
        assert link is not None and link.sync_mode == "sync-token" and link.sync_token
    [status] = [s for s in _statuses(world) if s.linked]
    assert status.state == "ok" and status.events == 7 and status.busy_periods == 7

    # nothing changed: one REPORT, nothing fetched
    [third] = world.sync.sync_now()
    assert third.ok and third.message.startswith("0 new, 0 changed, 0 deleted")
    assert third.requests <= 2


def _statuses(world: CalendarWorld) -> list[LinkStatus]:
    with world.db.read_session() as session:
        return statuses(session, world.demo.practice_id, interval=world.sync.interval, now=NOW)


def test_etag_comparison_when_the_server_offers_no_sync_token(world: CalendarWorld) -> None:
    world.link()
    phone = world.phone()
    phone.add_event(vcalendar(vevent("a@phone", datetime(2030, 1, 8, 8, tzinfo=UTC),
                                     datetime(2030, 1, 8, 9, tzinfo=UTC))))
    phone.add_event(vcalendar(vevent("b@phone", datetime(2030, 1, 8, 10, tzinfo=UTC),
                                     datetime(2030, 1, 8, 11, tzinfo=UTC))))
    with world.db.session() as session:  # as with a server without RFC 6578
        session.scalar(select(CalendarLink)).sync_mode = "etag"  # type: ignore[union-attr]
    [first] = world.sync.sync_now()
    assert first.ok and first.message.startswith("2 new"), first.message
    phone.event_by_uid("a@phone").delete()
    phone.add_event(vcalendar(vevent("b@phone", datetime(2030, 1, 8, 12, tzinfo=UTC),
                                     datetime(2030, 1, 8, 13, tzinfo=UTC))))
    [second] = world.sync.sync_now()
    assert second.ok and second.message.startswith("0 new, 1 changed, 1 deleted"), second.message
    assert world.busy() == [(datetime(2030, 1, 8, 12, tzinfo=UTC),
                             datetime(2030, 1, 8, 13, tzinfo=UTC), "busy")]
    with world.db.read_session() as session:
        assert session.scalar(select(CalendarLink.sync_mode)) == "etag"


def test_a_busy_event_removes_its_slots_and_an_event_over_an_appointment_is_a_conflict(
        world: CalendarWorld) -> None:
    world.link()
    assert world.sync.sync_now()[0].ok
    tuesday = date(2030, 1, 8)
    before = _slots(world, tuesday)
    first = before[0]

    # the doctor blocks the first free slot's time on the phone
    world.phone().add_event(vcalendar(vevent("school@phone", first.starts_at.astimezone(PARIS),
                                             first.ends_at.astimezone(PARIS))))
    world.demo.clock_at[0] = NOW + timedelta(minutes=6)  # the job's period has come
    reports = world.sync.run_due()
    assert [r.ok for r in reports] == [True]
    after = _slots(world, tuesday)
    assert first.starts_at not in [s.starts_at for s in after]
    assert after[0].starts_at >= first.ends_at
    held = world.agenda.hold(first, timedelta(minutes=3), actor="ivr:test", now=NOW)
    assert isinstance(held, Refused)

    # an appointment is booked; then the doctor's phone puts an event over it
    slot = after[1]
    with world.db.read_session() as session:
        from storage.patients import PatientDirectory

        patient = PatientDirectory(session).by_code(world.demo.practice_id, "100003")
        assert patient is not None
    booked = world.agenda.book(slot, patient.id, "conflict-test", actor="staff:sam", now=NOW)
    assert isinstance(booked, Booked)
    appointment_id = booked.appointment.id
    world.phone().add_event(vcalendar(vevent(
        "surgery@phone", (slot.starts_at - timedelta(minutes=10)).astimezone(PARIS),
        (slot.starts_at + timedelta(minutes=5)).astimezone(PARIS))))
    [report] = world.sync.sync_now()
    assert report.ok and "1 new conflict" in report.message, report.message
    with world.db.read_session() as session:
        conflicts = open_conflicts(session, world.demo.practice_id, NOW, NOW + timedelta(days=7))
        assert [c.appointment_id for c in conflicts] == [appointment_id]
        assert session.get_one(Appointment, appointment_id).status == AppointmentStatus.BOOKED
        flagged = session.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "calendar.conflict")).all()
        assert len(flagged) == 1 and f"[{appointment_id}]" in (flagged[0] or "")
    # the time is never offered again, even once the appointment is cancelled
    cancelled = world.agenda.cancel(appointment_id, actor="staff:sam", now=NOW, by=Channel.STAFF)
    assert not isinstance(cancelled, Refused)
    assert slot.starts_at not in [s.starts_at for s in _slots(world, tuesday, limit=20)]
    [report] = world.sync.sync_now()
    assert "1 conflict(s) resolved" in report.message, report.message
    with world.db.read_session() as session:
        assert open_conflicts(session, world.demo.practice_id, NOW, NOW + timedelta(days=7)) == []


def test_tentative_and_declined_follow_the_practice_setting(world: CalendarWorld) -> None:
    from calendars.links import update_settings

    world.link()
    thursday = date(2030, 1, 10)
    free = _slots(world, thursday, limit=1)[0]
    world.phone().add_event(vcalendar(vevent("maybe@phone", free.starts_at, free.ends_at,
                                             status="TENTATIVE")))
    assert world.sync.sync_now()[0].ok
    assert _slots(world, thursday, limit=1)[0].starts_at != free.starts_at  # blocks by default
    with world.db.session() as session:
        update_settings(session, world.demo.practice_id, tentative_blocks=False, actor=ADMIN)
    assert _slots(world, thursday, limit=1)[0].starts_at == free.starts_at
    with world.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "calendar.settings.update")) == 1


def test_unlink_forgets_the_busy_time_and_the_credentials(world: CalendarWorld) -> None:
    world.link()
    world.phone().add_event(vcalendar(vevent("x@phone", datetime(2030, 1, 8, 8, tzinfo=UTC),
                                             datetime(2030, 1, 8, 9, tzinfo=UTC))))
    assert world.sync.sync_now()[0].ok and world.busy()
    with world.db.session() as session:
        assert unlink_calendar(session, world.demo.practice_id, world.lambert, actor=ADMIN)
    with world.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(CalendarLink)) == 0
        assert session.scalar(select(func.count()).select_from(ImportedBusy)) == 0
        assert session.scalar(select(func.count()).select_from(CalendarOutbox)) == 0
