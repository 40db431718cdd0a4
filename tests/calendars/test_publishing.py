"""Appointments published to the doctor's calendar (Radicale), and a server that goes down.

The booking is made by a caller through the IVR simulator; the outbox row is written in
the booking's transaction and drained by the sync job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from calendars.credentials import CalendarSourceInvalid, open_sealed
from calendars.links import statuses, update_settings
from calendars.remote import CalDavCollection, RemoteObject
from scheduling.values import Booked, Channel, Rescheduled
from storage.erasure import erase_patient
from storage.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    CalendarLink,
    CalendarOutbox,
    Practitioner,
)
from tests.calendars.conftest import (
    ADMIN,
    DOCTOR_PASSWORD,
    NOW,
    CalendarWorld,
    make_world,
    vcalendar,
    vevent,
)
from tests.calendars.radicale_server import RadicaleServer
from tests.flows.conftest import Demo

# French, recording accepted, book, known, verified by caller id, yes: another appointment
CAMILLE = ["#1", "", "#1", "#1", "le 12 mars 1984", "#1"]
BOOK_WITH_LAMBERT = ["#1", "#1", "#1", "#1", "#1"]  # consultation, dr-lambert, first
CAMILLE_SAYS = ("rousseau", "camille", "639980001", "0639980001", "1984")


def _telesec_events(world: CalendarWorld) -> dict[str, str]:
    """UID -> iCalendar text of the events Telesec put in the doctor's calendar."""
    found = {}
    for item in world.phone().events():
        uid = str(item.icalendar_component["UID"])
        if uid.endswith("@telesec.invalid"):
            found[uid] = item.data.replace("\r\n", "\n").replace("\n ", "")  # unfolded
    return found


def _ivr_booking(world: CalendarWorld) -> Appointment:
    conversation = world.demo.call(*CAMILLE, *BOOK_WITH_LAMBERT)
    assert conversation.report.outcome_of("book") == "booked", conversation.channel.spoken
    with world.db.read_session() as session:
        row = session.scalar(select(Appointment).where(
            Appointment.idempotency_key.startswith(conversation.channel.call_id)))
        assert row is not None and row.practitioner_id == world.lambert
        return row


def test_an_ivr_booking_is_published_with_minimum_data_then_moved_and_cancelled(
        world: CalendarWorld) -> None:
    world.link()
    assert world.sync.sync_now()[0].ok
    already = set(_telesec_events(world))  # the doctor's upcoming appointments, on linking
    with world.db.read_session() as session:
        upcoming = session.scalar(select(func.count()).select_from(Appointment).where(
            Appointment.practitioner_id == world.lambert, Appointment.ends_at > NOW,
            Appointment.status == AppointmentStatus.BOOKED))
    assert len(already) == upcoming and upcoming > 0
    appointment = _ivr_booking(world)
    with world.db.read_session() as session:  # queued by the booking's own transaction
        assert session.scalar(select(func.count()).select_from(CalendarOutbox)) == 1

    world.sync.run_due()
    events = _telesec_events(world)
    uid = f"telesec-appointment-{appointment.id}@telesec.invalid"
    assert set(events) - already == {uid}
    text = events[uid]
    assert "SUMMARY:Rendez-vous (téléphone) · Consultation" in text
    assert f"DTSTART:{appointment.starts_at:%Y%m%dT%H%M%S}Z" in text
    assert not any(said in text.lower() for said in CAMILLE_SAYS), text
    with world.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(CalendarOutbox)) == 0

    # our own event comes back in the next sync: it is neither busy time nor a conflict
    [report] = world.sync.sync_now()
    assert report.ok and report.message.startswith("0 new, 0 changed"), report.message
    assert world.busy() == []

    # moved: the same event (same UID) changes time
    target = world.agenda.find_slots(world.demo.practice_id, "consultation",
                                     practitioner=world.lambert,
                                     after=appointment.starts_at + timedelta(days=1), now=NOW,
                                     by=Channel.STAFF)
    assert isinstance(target, list) and target
    moved = world.agenda.reschedule(appointment.id, target[0], "move-1", actor="staff:sam",
                                    now=NOW, by=Channel.STAFF)
    assert isinstance(moved, Rescheduled)
    world.sync.run_due()
    events = _telesec_events(world)
    assert set(events) - already == {uid}
    assert f"DTSTART:{target[0].starts_at:%Y%m%dT%H%M%S}Z" in events[uid]
    assert "SEQUENCE:1" in events[uid]

    # published again by hand (a drain cut short and replayed): still one event
    with world.db.session() as session:
        from scheduling.calendar_outbox import record_change

        record_change(session, session.get_one(Appointment, moved.new.id))
    world.sync.run_due()
    assert set(_telesec_events(world)) - already == {uid}

    # cancelled: the event goes
    cancelled = world.agenda.cancel(moved.new.id, actor="staff:sam", now=NOW, by=Channel.STAFF)
    assert not isinstance(cancelled, Rescheduled)
    world.sync.run_due()
    assert set(_telesec_events(world)) == already


def test_the_remote_side_losing_an_event_never_cancels_the_appointment_an_erasure_does(
        world: CalendarWorld) -> None:
    world.link()
    appointment = _ivr_booking(world)
    world.sync.sync_now()
    uid = f"telesec-appointment-{appointment.id}@telesec.invalid"
    assert uid in _telesec_events(world)
    world.phone().event_by_uid(uid).delete()  # the doctor deletes it on the phone
    [report] = world.sync.sync_now()
    assert "1 Telesec event(s) restored" in report.message, report.message
    with world.db.read_session() as session:
        assert session.get_one(Appointment, appointment.id).status == AppointmentStatus.BOOKED
    world.sync.run_due()
    assert uid in _telesec_events(world)

    # the patient's erasure deletes the appointment: its event leaves the calendar
    with world.db.session() as session:
        erase_patient(session, appointment.patient_id, ADMIN, "request 42",
                      vault=world.demo.vault)
    world.sync.run_due()
    assert uid not in _telesec_events(world)


def test_patient_identity_only_when_the_practice_turns_it_on(world: CalendarWorld) -> None:
    world.link()
    appointment = _ivr_booking(world)
    world.sync.sync_now()
    with world.db.session() as session:
        update_settings(session, world.demo.practice_id, publish_patient_identity=True,
                        actor=ADMIN)
    world.sync.run_due()
    text = _telesec_events(world)[f"telesec-appointment-{appointment.id}@telesec.invalid"]
    assert "ROUSSEAU Camille" in text and "+33639980001" in text
    with world.db.read_session() as session:
        reads = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "patient.read", AuditEvent.actor == "system:calendar-publish"))
        changed = session.scalar(select(AuditEvent.detail).where(
            AuditEvent.action == "calendar.settings.update"))
    published = len(_telesec_events(world))  # this one and the doctor's other upcoming ones
    assert reads == published and changed is not None and "publish_patient_identity" in changed
    with world.db.session() as session:  # turned off again: the names are taken out
        update_settings(session, world.demo.practice_id, publish_patient_identity=False,
                        actor=ADMIN)
    world.sync.run_due()
    text = _telesec_events(world)[f"telesec-appointment-{appointment.id}@telesec.invalid"]
    assert "ROUSSEAU" not in text


class _StopsBeforeMultiget(CalDavCollection):
    """Telesec's client, with the server going down between the listing and the fetch."""

    server: RadicaleServer

    def fetch(self, paths: Iterable[str]) -> list[RemoteObject]:
        self.server.stop()
        return super().fetch(paths)


def test_server_stopped_mid_sync_loses_nothing_and_the_next_sync_completes(
        demo: Demo, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = RadicaleServer(tmp_path / "radicale", {"lambert": DOCTOR_PASSWORD}).start()
    try:
        world = make_world(demo, server)
        world.link()
        world.phone().add_event(vcalendar(vevent(
            "before@phone", datetime(2030, 1, 8, 8, tzinfo=UTC),
            datetime(2030, 1, 8, 9, tzinfo=UTC))))
        assert world.sync.sync_now()[0].ok
        imported = world.busy()
        first = _ivr_booking(world)
        world.phone().add_event(vcalendar(vevent(
            "after@phone", datetime(2030, 1, 9, 8, tzinfo=UTC),
            datetime(2030, 1, 9, 9, tzinfo=UTC))))

        _StopsBeforeMultiget.server = server
        world.sync.open_caldav = _StopsBeforeMultiget
        with caplog.at_level(logging.INFO, logger="calendars"):
            [report] = world.sync.sync_now()  # publishes, lists, then the server stops
        assert not report.ok and "unreachable" in report.message
        assert world.busy() == imported  # the last imported state stays in force
        with world.db.read_session() as session:
            link = session.scalar(select(CalendarLink))
            assert link is not None and link.last_error and link.failures == 1
            token = link.sync_token
        second = _ivr_booking(world)  # booked while the server is down: no network in the call
        world.sync.open_caldav = CalDavCollection
        world.sync.outbox.open_collection = CalDavCollection
        world.sync.run_due()
        with world.db.read_session() as session:
            assert session.scalar(select(func.count()).select_from(CalendarOutbox)) == 1
            [status] = [s for s in statuses(session, world.demo.practice_id,
                                            interval=world.sync.interval, now=NOW) if s.linked]
            assert session.scalar(select(CalendarLink.sync_token)) == token
        assert status.state == "failing" and "unreachable" in (status.last_error or "")
        assert "busy time imported" in status.line()
        logged = caplog.text.lower()
        assert "failed" in logged and "slot search uses the busy time" in logged
        assert not any(secret in logged for secret in
                       (*CAMILLE_SAYS, DOCTOR_PASSWORD, "/lambert/", "127.0.0.1"))

        server.start()  # back up on the same port, with its data
        [report] = world.sync.sync_now()
        assert report.ok, report.message
        assert len(world.busy()) == 2
        events = _telesec_events(world)
        assert {f"telesec-appointment-{a.id}@telesec.invalid" for a in (first, second)} <= set(
            events)
        with world.db.read_session() as session:
            assert session.scalar(select(func.count()).select_from(CalendarOutbox)) == 0
            assert session.scalar(select(CalendarLink.last_error)) is None
    finally:
        server.stop()


def test_credentials_are_sealed_and_never_in_the_database_or_logs(
        world: CalendarWorld, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):  # every logger, at its most talkative
        world.link()
        world.sync.sync_now()
        world.link(kind="ics")
        world.sync.sync_now()
    raw = Path(world.db.url.split("///", 1)[1]).read_bytes()
    wal = Path(world.db.url.split("///", 1)[1] + "-wal")
    raw += wal.read_bytes() if wal.exists() else b""
    assert DOCTOR_PASSWORD.encode() not in raw
    assert world.url.encode() not in raw  # object paths are kept, the address is sealed
    assert DOCTOR_PASSWORD not in caplog.text and world.url not in caplog.text
    assert "cabinet-" not in caplog.text  # no address, not even its path
    with world.db.read_session() as session:
        link = session.scalar(select(CalendarLink))
        assert link is not None and link.server == f"127.0.0.1:{world.radicale.port}"
        source = open_sealed(world.demo.vault.keyring, world.lambert, link.sealed_source)
        assert source.password == DOCTOR_PASSWORD and DOCTOR_PASSWORD not in repr(source)
        moreau = session.scalar(select(Practitioner.id).where(Practitioner.slug == "dr-moreau"))
        with pytest.raises(CalendarSourceInvalid):  # sealed for dr-lambert only
            open_sealed(world.demo.vault.keyring, moreau or 0, link.sealed_source)


def test_a_read_only_ics_address(world: CalendarWorld) -> None:
    world.phone().add_event(vcalendar(vevent(
        "ics@phone", datetime(2030, 1, 8, 8, tzinfo=UTC), datetime(2030, 1, 8, 9, tzinfo=UTC))))
    world.link(kind="ics")
    [first] = world.sync.sync_now()
    assert first.ok and first.message.startswith("1 new"), first.message
    assert world.busy() == [(datetime(2030, 1, 8, 8, tzinfo=UTC),
                             datetime(2030, 1, 8, 9, tzinfo=UTC), "busy")]
    # an ICS calendar is read-only: a booking queues nothing to publish
    booked = world.agenda.book(
        world.agenda.find_slots(world.demo.practice_id, "consultation",
                                practitioner=world.lambert, now=NOW, by=Channel.STAFF)[0],  # type: ignore[index]
        _camille(world), "ics-book", actor="staff:sam", now=NOW)
    assert isinstance(booked, Booked)
    with world.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(CalendarOutbox)) == 0
    world.phone().event_by_uid("ics@phone").delete()
    [second] = world.sync.sync_now()
    assert second.ok and second.message.startswith("0 new, 0 changed, 1 deleted"), second.message
    assert world.busy() == []


def _camille(world: CalendarWorld) -> int:
    from storage.patients import PatientDirectory

    with world.db.read_session() as session:
        record = PatientDirectory(session).by_code(world.demo.practice_id, "100001")
        assert record is not None
        return record.id
