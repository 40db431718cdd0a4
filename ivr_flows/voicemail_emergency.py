"""Emergencies said into a voicemail: heard when the message is transcribed.

A caller may leave "mon mari ne respire plus" on the practice's voicemail at night. When
the transcript of a voicemail is ready (``ivr_flows.transcription``), it is assessed with
the same emergency detector as live speech (``understanding.emergency``), in the
language its words lean to (an English message left in a French call); an emergency
makes the call's escalation urgent, or raises an urgent one, linked to the message, and
staff are alerted (``storage.escalations.urgent_voicemail``; the alert says only that an
urgent call waits). Without a speech model there is no transcript and no detection.
"""

from __future__ import annotations

import logging

from ivr_flows.call import VoicemailMeta
from ivr_flows.understanding.emergency import DEFAULT_DETECTOR, EmergencyDetector
from ivr_flows.understanding.language import leans_to_other
from storage import escalations
from storage.db import Database

log = logging.getLogger(__name__)


class EmergencyVoicemails:
    """A transcript hook: raises an urgent escalation for an emergency voicemail."""

    def __init__(self, db: Database, detector: EmergencyDetector = DEFAULT_DETECTOR) -> None:
        self.db = db
        self.detector = detector

    def __call__(self, voicemail_id: str, meta: VoicemailMeta, text: str,
                 transcript_id: str) -> int | None:
        """The escalation raised (its id), or None when the message is not an emergency."""
        language = leans_to_other(text, meta.language) or meta.language
        if not self.detector.is_emergency(text, language):
            return None
        escalation_id = escalations.urgent_voicemail(
            self.db, call_id=meta.call_id, practice_id=meta.practice_id,
            voicemail_object_id=voicemail_id, transcript_object_id=transcript_id,
            patient_id=meta.patient_id, language=meta.language)
        log.warning("call %s: emergency heard in voicemail %s; urgent escalation %s",
                    meta.call_id, voicemail_id, escalation_id)
        return escalation_id
