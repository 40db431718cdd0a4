"""Data the API tests put in place: calls, escalations, voicemail in the vault."""

from __future__ import annotations

import math
import struct
import uuid

from storage import calls, escalations
from storage.models import ObjectKind
from storage.vault import Vault
from tests.api.conftest import ApiWorld

VOICEMAIL_MEDIA_TYPE = "audio/L16;rate=16000;channels=1"


def tone(seconds: float, rate: int = 16000) -> bytes:
    samples = int(seconds * rate)
    return b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(samples)
    )


def voicemail(world: ApiWorld, practitioner_id: int | None, *, practice_id: int | None = None,
              patient_id: int | None = None, seconds: float = 0.5,
              transcript: str | None = None) -> tuple[str, bytes]:
    """A voicemail (and its transcript) as the phone flow leaves it; returns (id, pcm)."""
    vault: Vault = world.vault
    call_id = uuid.uuid4().hex
    pcm = tone(seconds)
    place = practice_id or world.demo_id
    object_id = vault.put(ObjectKind.VOICEMAIL, pcm, practice_id=place,
                          practitioner_id=practitioner_id, patient_id=patient_id,
                          call_id=call_id, media_type=VOICEMAIL_MEDIA_TYPE)
    if transcript is not None:
        vault.put(ObjectKind.TRANSCRIPT, transcript.encode(), practice_id=place,
                  practitioner_id=practitioner_id, patient_id=patient_id, call_id=call_id,
                  media_type="text/plain; charset=utf-8")
    return object_id, pcm


def finished_call(world: ApiWorld, *, practice_id: int | None = None,
                  patient_id: int | None = None, transcript: str | None = None,
                  recording: bytes | None = None) -> str:
    call_id = uuid.uuid4().hex
    place = practice_id or world.demo_id
    calls.call_started(world.db, call_id, place)
    transcript_id = recording_id = None
    if transcript is not None:
        transcript_id = world.vault.put(ObjectKind.TRANSCRIPT, transcript.encode(),
                                        practice_id=place, patient_id=patient_id,
                                        call_id=call_id)
    if recording is not None:
        recording_id = world.vault.put(ObjectKind.RECORDING, recording, practice_id=place,
                                       patient_id=patient_id, call_id=call_id,
                                       media_type="audio/L16;rate=16000;channels=2")
    calls.call_ended(world.db, call_id, outcome="booked", verified=patient_id is not None,
                     intent="book", patient_id=patient_id, transcript_object_id=transcript_id,
                     recording_object_id=recording_id, recognition_delay_ms=240)
    return call_id


def escalate(world: ApiWorld, *, practice_id: int | None = None, patient_id: int | None = None,
             transcript: str | None = None) -> int:
    call_id = uuid.uuid4().hex
    place = practice_id or world.demo_id
    calls.call_started(world.db, call_id, place)
    transcript_id = None
    if transcript is not None:
        transcript_id = world.vault.put(ObjectKind.TRANSCRIPT, transcript.encode(),
                                        practice_id=place, patient_id=patient_id,
                                        call_id=call_id)
    return escalations.publish(world.db, call_id=call_id, practice_id=place, intent="book",
                               reason="asked_for_human", patient_id=patient_id,
                               transcript_object_id=transcript_id)
