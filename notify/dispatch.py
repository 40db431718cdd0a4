"""Sends the outbox: one pass of the ``notifications`` job of ``telesec serve``.

Each due message (``storage.outbox.claim_due``) is composed and sent now, outside any
database transaction, so a booking never waits on the network. Staff alerts due
together for the same people are sent as one ("3 nouveaux messages vocaux"). A message
nobody can receive (no channel configured, no recipient, a number that takes no SMS,
an appointment cancelled meanwhile) is *skipped*; a failed send is retried later
(1 min, 5 min, 15 min, 1 h, then every 4 h) up to ``max_attempts``, then *failed*.
Log lines carry the message id, its kind and an error code: never an address or a text.
Each confirmation sent is audited (``notification.sent``, the patient's id, no content).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from notify import messages
from notify.notifier import Notifier
from notify.transports import Message, SendFailed
from storage import audit, outbox
from storage.db import Database
from storage.models import (
    Appointment,
    AppointmentStatus,
    NotificationKind,
    NotificationStatus,
    Practice,
    PracticeProfile,
    Practitioner,
)
from storage.outbox import Pending
from storage.patients import PatientDirectory, UnknownPatient

log = logging.getLogger(__name__)

ACTOR = "system:notifications"
PURPOSE = "booking confirmation to the patient"


@dataclass
class DispatchReport:
    sent: int = 0
    skipped: int = 0
    retried: int = 0
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class OutboxDispatcher:
    """Sends what the outbox holds with the ``notifier``'s transports."""

    def __init__(self, db: Database, notifier: Notifier,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.db = db
        self.notifier = notifier
        self.clock = clock

    def run(self) -> DispatchReport:
        """Send every message due now; returns what happened."""
        report = DispatchReport()
        due = outbox.claim_due(self.db, now=self.clock())
        groups: dict[tuple[object, ...], list[Pending]] = defaultdict(list)
        for item in due:
            if item.kind is NotificationKind.BOOKING_CONFIRMATION:
                self._confirm(item, report)
            else:
                groups[(item.kind, item.practice_id, item.practitioner_id)].append(item)
        for items in groups.values():
            self._alert(items, report)
        return report

    # ---- patients ---------------------------------------------------------------------
    def _confirm(self, item: Pending, report: DispatchReport) -> None:
        if self.notifier.sms is None or not self.notifier.confirmations:
            self._skip([item], "not_configured", report)
            return
        found = self._confirmation(item)
        if isinstance(found, str):
            self._skip([item], found, report)
            return
        message, patient_id, practice_id = found
        if self._send([item], self.notifier.sms, message, report):
            with self.db.session() as session:
                audit.record(session, actor=ACTOR, action="notification.sent",
                             object_type="appointment", object_id=str(item.appointment_id),
                             purpose=PURPOSE, patient_id=patient_id, practice_id=practice_id,
                             detail={"notification": item.id, "channel": "sms"})

    def _confirmation(self, item: Pending) -> tuple[Message, int, int] | str:
        """The confirmation to send, or why none can be (a code)."""
        with self.db.session() as session:
            appointment = session.get(Appointment, item.appointment_id or 0)
            if appointment is None or appointment.status is not AppointmentStatus.BOOKED:
                return "appointment_gone"
            try:
                patient = PatientDirectory(session).get(appointment.patient_id)
            except UnknownPatient:
                return "patient_gone"
            if self.notifier.confirmation_channel(patient.phone) is None:
                return "no_mobile_number"
            place = session.get_one(Practice, appointment.practice_id)
            doctor = session.get_one(Practitioner, appointment.practitioner_id)
            message = messages.booking_confirmation(
                patient.phone or "", practice=place.name, doctor=doctor.display_name,
                local_start=appointment.starts_at.astimezone(ZoneInfo(place.timezone)),
                practice_phone=_national(place.phone_number))
            return message, patient.id, place.id

    # ---- staff ------------------------------------------------------------------------
    def _alert(self, items: list[Pending], report: DispatchReport) -> None:
        first = items[0]
        with self.db.session() as session:
            place = session.get(Practice, first.practice_id)
            recipients = self._staff_recipients(session, first)
            name = place.name if place is not None else ""
        reachable = [(to, self.notifier.transport_for(to)) for to in recipients]
        reachable = [(to, t) for to, t in reachable if t is not None]
        if not reachable:
            self._skip(items, "no_recipient" if not recipients else "not_configured", report)
            return
        compose = (messages.new_voicemail_alert if first.kind is NotificationKind.NEW_VOICEMAIL
                   else messages.urgent_escalation_alert)
        failures = []
        for to, transport in reachable:
            try:
                transport.send(compose(to, practice=name, count=len(items),
                                       console_url=self.notifier.console_url))
            except SendFailed as exc:
                failures.append(str(exc))
        if len(failures) == len(reachable):
            self._retry(items, failures[0], report)
            return
        for item in items:  # reached at least one person: done
            outbox.finish(self.db, item.id, NotificationStatus.SENT,
                          channel=",".join(sorted({t.channel for _, t in reachable})),
                          error=failures[0] if failures else None, now=self.clock())
        report.sent += len(items)
        log.info("notifications %s sent (%s x%d)", ",".join(str(i.id) for i in items),
                 first.kind.value, len(items))

    def _staff_recipients(self, session, item: Pending) -> list[str]:  # type: ignore[no-untyped-def]
        if item.kind is NotificationKind.NEW_VOICEMAIL and item.practitioner_id is not None:
            doctor = session.get(Practitioner, item.practitioner_id)
            if doctor is not None and doctor.alert_address:
                return [doctor.alert_address]
        about = session.get(PracticeProfile, item.practice_id)
        return list(json.loads(about.alert_recipients)) if about is not None else []

    # ---- results ----------------------------------------------------------------------
    def _send(self, items: list[Pending], transport, message: Message,  # type: ignore[no-untyped-def]
              report: DispatchReport) -> bool:
        try:
            transport.send(message)
        except SendFailed as exc:
            self._retry(items, str(exc), report)
            return False
        for item in items:
            outbox.finish(self.db, item.id, NotificationStatus.SENT, channel=transport.channel,
                          now=self.clock())
        report.sent += len(items)
        log.info("notification %s sent (%s by %s)", items[0].id, items[0].kind.value,
                 transport.channel)
        return True

    def _skip(self, items: list[Pending], reason: str, report: DispatchReport) -> None:
        for item in items:
            outbox.finish(self.db, item.id, NotificationStatus.SKIPPED, error=reason,
                          now=self.clock())
        report.skipped += len(items)
        report.reasons[reason] = report.reasons.get(reason, 0) + len(items)

    def _retry(self, items: list[Pending], error: str, report: DispatchReport) -> None:
        for item in items:
            again = outbox.retry_later(self.db, item.id, item.attempts, error,
                                       max_attempts=self.notifier.max_attempts,
                                       now=self.clock())
            if again:
                report.retried += 1
            else:
                report.failed += 1
            log.warning("notification %s (%s) not sent: %s; %s", item.id, item.kind.value,
                        error, "will retry" if again else "given up")


def _national(number: str | None) -> str | None:
    """``+33199000000`` → ``01 99 00 00 00`` (other countries as they are)."""
    if not number:
        return None
    if number.startswith("+33") and len(number) == 12:
        digits = "0" + number[3:]
        return " ".join(digits[i:i + 2] for i in range(0, 10, 2))
    return number


def pending_count(db: Database) -> int:
    """Messages still to send (for tests and the metrics)."""
    from storage.models import Notification

    with db.read_session() as session:
        return len(session.scalars(select(Notification.id).where(
            Notification.status == NotificationStatus.PENDING)).all())
