"""Building the services a call uses from a database (and a vault when there is one)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ivr_flows.call import Services, SinkFactory, VoicemailMeta
from ivr_flows.channel import MessageSink
from ivr_flows.lockout import CallerLockout, DatabaseLockout
from ivr_flows.patient_lookup import PatientLookup
from ivr_flows.privacy_notice import RetentionDays
from notify.notifier import Notifier
from scheduling.service import Agenda
from storage import audit
from storage.db import Database

VOICEMAIL_MEDIA_TYPE = "audio/L16;rate=16000;channels=1"

log = logging.getLogger(__name__)


def audit_to(db: Database) -> Callable[..., None]:
    """An audit recorder writing each event in its own short transaction."""

    def record(**event: Any) -> None:
        with db.session() as session:
            audit.record(session, **event)

    return record


def vault_voicemail_sinks(vault: Any, transcriber: Any = None) -> SinkFactory:
    """Voicemail goes straight into the encrypted vault (``storage.vault.Vault``).

    With a ``transcriber`` (``ivr_flows.transcription.VoicemailTranscriber``) each message
    is transcribed in the background once closed.
    """
    from storage.models import ObjectKind
    from storage.outage import DATABASE_DOWN
    from storage.vault.spool import VaultSpool

    def create(meta: VoicemailMeta) -> MessageSink:
        fields = dict(practice_id=meta.practice_id, patient_id=meta.patient_id,
                      practitioner_id=meta.practitioner_id, call_id=meta.call_id,
                      media_type=VOICEMAIL_MEDIA_TYPE)
        try:
            return vault.create(ObjectKind.VOICEMAIL, **fields)
        except DATABASE_DOWN:  # the message is kept (encrypted) and lands later
            log.warning("call %s: database unreachable; the voicemail is spooled, encrypted, "
                        "until it is back", meta.call_id)
            return VaultSpool(vault).create(ObjectKind.VOICEMAIL, **fields)

    if transcriber is not None:
        from ivr_flows.transcription import transcribed_sinks

        return transcribed_sinks(create, transcriber)
    return create


def build_services(
    db: Database,
    *,
    voicemail_sinks: SinkFactory,
    lockout: CallerLockout | None = None,
    clock: Callable[[], datetime] | None = None,
    notifier: Notifier | None = None,
    retention: RetentionDays | None = None,
) -> Services:
    """Services over ``db``: the real agenda, the patient directory, the audit chain, the
    given voicemail sinks and the lockout shared through the database (unless ``lockout``
    is given)."""
    now = clock or (lambda: datetime.now(UTC))
    return Services(
        db=db,
        agenda=Agenda(db),
        patients=PatientLookup(db),
        voicemail_sinks=voicemail_sinks,
        lockout=lockout or DatabaseLockout(db, clock=now),
        audit=audit_to(db),
        clock=now,
        notifier=notifier,
        retention=retention,
    )
