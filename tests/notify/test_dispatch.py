"""The outbox, end to end on SQLite and PostgreSQL: written with what it tells, sent by
the notifications job, retried, skipped when nothing can send it; staff alerts carry
no health data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from notify.dispatch import OutboxDispatcher
from notify.notifier import Notifier
from notify.transports import FileOutbox, SmsGateway
from scheduling.demo import seed_demo
from scheduling.service import Agenda
from scheduling.values import Booked, Channel
from storage import escalations
from storage.db import Database
from storage.keyring import Keyring
from storage.models import (
    AuditEvent,
    Notification,
    NotificationKind,
    NotificationStatus,
    ObjectKind,
    Practitioner,
)
from storage.patients import PatientDirectory
from storage.vault import Vault
from telesec.jobs import engine_jobs
from tests.notify.peers import sms_gateway

NOW = datetime(2030, 1, 7, 7, 0, tzinfo=UTC)  # Monday 08:00 in Paris
CALL = "ivr:call-notify"


@pytest.fixture
def demo(db: Database) -> Database:
    seed_demo(db, now=NOW)
    return db


def book_by_phone(db: Database, code: str = "100005", by: Channel = Channel.PHONE) -> int:
    agenda = Agenda(db)
    with db.read_session() as session:
        patient = PatientDirectory(session).by_code(1, code)
    slot = agenda.find_slots("demo", "consultation", practitioner="dr-moreau", now=NOW)[0]
    held = agenda.hold(slot, timedelta(minutes=3), now=NOW, actor=CALL, by=by)
    booked = agenda.confirm(held.hold.id, patient.id, f"notify-{code}", now=NOW, actor=CALL,
                            by=by)
    assert isinstance(booked, Booked), booked
    return booked.appointment.id


def rows(db: Database) -> list[Notification]:
    with db.session() as session:
        found = session.scalars(select(Notification).order_by(Notification.id)).all()
        session.expunge_all()
        return list(found)


def files(directory: Path) -> list[dict[str, str]]:
    if not directory.exists():
        return []
    return [json.loads(p.read_text()) for p in sorted(directory.iterdir())]


def test_a_phone_booking_is_confirmed_by_sms_once(demo: Database, tmp_path: Path) -> None:
    appointment = book_by_phone(demo)
    book_by_phone(demo, "100006", by=Channel.STAFF)  # staff bookings are not confirmed
    (pending,) = rows(demo)
    assert (pending.kind, pending.status) == (NotificationKind.BOOKING_CONFIRMATION,
                                              NotificationStatus.PENDING)
    assert pending.appointment_id == appointment
    outbox = tmp_path / "outbox"
    dispatcher = OutboxDispatcher(demo, Notifier(sms=FileOutbox(outbox, "sms")),
                                  clock=lambda: NOW)
    assert dispatcher.run().sent == 1
    assert dispatcher.run().sent == 0  # sent once
    (sms,) = files(outbox)
    assert sms["to"] == "+33639980005"
    assert sms["text"].startswith("Cabinet médical des Tilleuls : votre rendez-vous est "
                                  "confirmé le lundi 7 janvier à ")
    assert "Docteur Julien Moreau" in sms["text"] and "01 99 00 00 00" in sms["text"]
    (sent,) = rows(demo)
    assert sent.status is NotificationStatus.SENT and sent.channel == "sms"
    with demo.session() as session:
        event = session.scalar(select(AuditEvent).where(
            AuditEvent.action == "notification.sent"))
        assert event.patient_id is not None and "+336" not in event.detail


def test_nothing_configured_skips_and_a_failing_gateway_retries_then_gives_up(
        demo: Database) -> None:
    book_by_phone(demo)
    OutboxDispatcher(demo, Notifier(), clock=lambda: NOW).run()
    assert (rows(demo)[0].status, rows(demo)[0].error) == (NotificationStatus.SKIPPED,
                                                           "not_configured")
    book_by_phone(demo, "100006")
    clock = [NOW]
    with sms_gateway() as gateway:
        gateway.status = 500
        notifier = Notifier(sms=SmsGateway(gateway.url, timeout=5), max_attempts=3)
        dispatcher = OutboxDispatcher(demo, notifier, clock=lambda: clock[0])
        assert dispatcher.run().retried == 1
        assert dispatcher.run().retried == 0  # not due yet
        clock[0] += timedelta(minutes=1)
        assert dispatcher.run().retried == 1
        gateway.status = 200
        clock[0] += timedelta(minutes=5)
        assert dispatcher.run().sent == 1
    assert len(gateway.requests) == 3 and rows(demo)[1].status is NotificationStatus.SENT
    book_by_phone(demo, "100007")
    with sms_gateway() as gateway:
        gateway.status = 400
        dispatcher = OutboxDispatcher(demo, Notifier(sms=SmsGateway(gateway.url),
                                                     max_attempts=1), clock=lambda: clock[0])
        assert dispatcher.run().failed == 1
    assert (rows(demo)[2].status, rows(demo)[2].error) == (NotificationStatus.FAILED,
                                                           "sms_http_400")


def test_staff_hear_of_new_voicemail_and_urgent_calls_without_health_data(
        demo: Database, installed_keyring: Keyring, tmp_path: Path) -> None:
    vault = Vault(demo, installed_keyring, tmp_path / "vault")
    with demo.read_session() as session:
        lambert = session.scalar(select(Practitioner.id).where(
            Practitioner.slug == "dr-lambert"))
    for call in ("c-1", "c-2"):
        vault.put(ObjectKind.VOICEMAIL, b"\0\0" * 8000, practice_id=1,
                  practitioner_id=lambert, call_id=call)
    vault.put(ObjectKind.VOICEMAIL, b"\0\0" * 8000, practice_id=1, call_id="c-3")  # shared
    vault.put(ObjectKind.RECORDING, b"\0\0" * 8000, practice_id=1, call_id="c-3")
    escalations.publish(demo, call_id="c-4", practice_id=1, intent="book",
                        reason="emergency", priority=True, caller_number="+33639980009")
    escalations.publish(demo, call_id="c-5", practice_id=1, intent="book")  # not urgent
    kinds = [r.kind for r in rows(demo)]
    assert kinds.count(NotificationKind.NEW_VOICEMAIL) == 3
    assert kinds.count(NotificationKind.URGENT_ESCALATION) == 1 and len(kinds) == 4
    outbox = tmp_path / "outbox"
    notifier = Notifier(email=FileOutbox(outbox, "email"),
                        console_url="https://console.tilleuls.invalid/")
    report = OutboxDispatcher(demo, notifier, clock=lambda: NOW).run()
    assert report.sent == 4
    sent = {(m["to"], m["text"]) for m in files(outbox)}
    assert sent == {
        ("lambert@tilleuls.invalid", "2 nouveaux messages vocaux — Cabinet médical des "
         "Tilleuls. Console : https://console.tilleuls.invalid/"),
        ("secretariat@tilleuls.invalid", "1 nouveau message vocal — Cabinet médical des "
         "Tilleuls. Console : https://console.tilleuls.invalid/"),
        ("secretariat@tilleuls.invalid", "1 appel urgent en attente — Cabinet médical des "
         "Tilleuls. Console : https://console.tilleuls.invalid/"),
    }


def test_the_engine_runs_the_outbox_as_a_job(demo: Database, installed_keyring: Keyring,
                                             tmp_path: Path) -> None:
    vault = Vault(demo, installed_keyring, tmp_path / "vault")
    names = [job.name for job in engine_jobs(Agenda(demo), vault, Notifier())]
    assert "notifications" in names and "notifications-purge" in names
    assert "notifications" not in [job.name for job in engine_jobs(Agenda(demo), vault)]


def test_a_voicemail_spooled_while_the_database_was_down_is_announced_when_it_lands(
        demo: Database, installed_keyring: Keyring, tmp_path: Path) -> None:
    from storage.vault.spool import VaultSpool

    vault = Vault(demo, installed_keyring, tmp_path / "vault")
    sink = VaultSpool(vault).create(ObjectKind.VOICEMAIL, practice_id=1, patient_id=None,
                                    practitioner_id=None, call_id="c-spool",
                                    media_type="audio/L16;rate=16000;channels=1")
    sink.append(b"\0\0" * 8000)
    sink.close()
    assert rows(demo) == []  # nothing in the database yet
    assert VaultSpool(vault).land().landed
    found = rows(demo)
    assert len(found) == 1, [(r.kind, r.practitioner_id) for r in found]
    (alert,) = found
    assert alert.kind is NotificationKind.NEW_VOICEMAIL and alert.practitioner_id is None
