"""Voicemail transcribed in the background with the real Korean Vosk model (in-process and
through the pool's speech server), filed where the API looks for it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from api.routers.voicemail import _transcript_id
from api.services.media import read_text
from ivr_flows.call import VoicemailMeta
from ivr_flows.services import audit_to, vault_voicemail_sinks
from ivr_flows.transcription import VoicemailTranscriber
from speech.client import RemoteSpeechEngine
from speech.models import ModelRegistry
from speech.recognizer import BYTES_PER_SECOND, SpeechEngine, StreamRefused
from speech.server import SpeechServerProcess, start_server_process
from speech.synthetic import frames, line_hiss, telephone_speech
from storage.models import AuditEvent, ObjectKind, VaultObject
from tests.flows.conftest import Demo
from tests.speech.conftest import KOREAN_MODEL

CALL_ID = "call-vm-0001"
PHRASES = ("안녕하세요 예약을 하고 싶습니다", "오늘 날씨가 정말 좋네요", "네 맞습니다")


@pytest.fixture(scope="module")
def message_audio() -> bytes:
    """About 24 s: three phrases, one long silence (more than one window of 20 s)."""
    first, second, third = (telephone_speech(p, lead=0.3, trail=0.5) for p in PHRASES)
    return first + line_hiss(1.5, seed=5) + second + line_hiss(12.0, seed=6) + third


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    """The Korean test model standing in for the French one (voicemail language fr)."""
    models = ModelRegistry({"fr": KOREAN_MODEL})
    models.preload()
    return models


@pytest.fixture
def engine(registry: ModelRegistry) -> Iterator[SpeechEngine]:
    speech = SpeechEngine(registry, max_concurrent_streams=2)
    yield speech
    speech.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpeechServerProcess]:
    socket_path = tmp_path_factory.mktemp("speech") / "run" / "asr.sock"
    process, _env = start_server_process({"fr": KOREAN_MODEL}, socket_path, 2)
    yield process
    assert process.stop() == 0


def doctor_id(demo: Demo) -> int:
    from storage.models import Practitioner

    with demo.db.session() as session:
        return session.scalars(select(Practitioner.id).where(
            Practitioner.practice_id == demo.practice_id).order_by(Practitioner.id)).first()


def leave_voicemail(demo: Demo, transcriber: VoicemailTranscriber | None, audio: bytes,
                    practitioner_id: int | None) -> tuple[str, VoicemailMeta]:
    """A voicemail recorded as a call does: frame by frame into the vault, then closed."""
    meta = VoicemailMeta(CALL_ID, demo.practice_id, practitioner_id, None, "fr")
    sink = vault_voicemail_sinks(demo.vault, transcriber)(meta)
    for frame in frames(audio):
        sink.append(frame)
    sink.close()
    with demo.db.session() as session:
        (voicemail_id,) = session.scalars(select(VaultObject.id).where(
            VaultObject.call_id == CALL_ID, VaultObject.kind == ObjectKind.VOICEMAIL))
    return voicemail_id, meta


def transcripts(demo: Demo) -> list[VaultObject]:
    with demo.db.session() as session:
        return list(session.scalars(select(VaultObject).where(
            VaultObject.kind == ObjectKind.TRANSCRIPT)))


def transcribed_events(demo: Demo) -> list[AuditEvent]:
    with demo.db.session() as session:
        return list(session.scalars(select(AuditEvent).where(
            AuditEvent.action == "voicemail.transcribed")))


def check_transcript(demo: Demo, voicemail_id: str, audio: bytes) -> str:
    """The transcript the API's voicemail endpoint would serve, with its audit event."""
    with demo.db.session() as session:
        message = session.get(VaultObject, voicemail_id)
        assert message is not None
        transcript_id = _transcript_id(session, message)
        assert transcript_id is not None, "the API finds no transcript for the voicemail"
        transcript = session.get(VaultObject, transcript_id)
        assert transcript is not None
        assert (transcript.call_id, transcript.practitioner_id, transcript.practice_id) == \
               (message.call_id, message.practitioner_id, message.practice_id)
        assert transcript.media_type == "text/plain; charset=utf-8"
    text, cut = read_text(demo.vault, transcript_id)
    assert not cut and text.strip()
    blob = (demo.vault.root / transcript.blob_path).read_bytes()  # type: ignore[operator]
    assert text.encode() not in blob, "the transcript is encrypted at rest"
    (event,) = transcribed_events(demo)
    assert event.object_id == transcript_id and event.actor.startswith("system:")
    detail = json.loads(event.detail) if isinstance(event.detail, str) else event.detail
    assert detail["voicemail"] == voicemail_id and detail["utterances"] >= 3
    assert abs(detail["audio_seconds"] - len(audio) / BYTES_PER_SECOND) < 0.5
    assert not any(word in json.dumps(detail, ensure_ascii=False) for word in text.split())
    return text


def test_voicemail_transcribed_in_process(demo: Demo, engine: SpeechEngine,
                                          message_audio: bytes) -> None:
    transcriber = VoicemailTranscriber(demo.vault, engine, audit_to(demo.db))
    try:
        voicemail_id, _meta = leave_voicemail(demo, transcriber, message_audio,
                                              doctor_id(demo))
        assert transcriber.wait_idle(180)
    finally:
        transcriber.close()
    text = check_transcript(demo, voicemail_id, message_audio)
    assert len(text.split()) >= 5, "words of the three phrases are joined"
    assert demo.vault.read(voicemail_id) == message_audio  # the message itself is untouched


def test_voicemail_transcribed_through_the_speech_server(
    demo: Demo, server: SpeechServerProcess, message_audio: bytes
) -> None:
    remote = RemoteSpeechEngine(server.socket_path, reply_timeout=15.0)
    transcriber = VoicemailTranscriber(demo.vault, remote, audit_to(demo.db))
    try:
        voicemail_id, _meta = leave_voicemail(demo, transcriber, message_audio, None)
        assert transcriber.wait_idle(180)
    finally:
        transcriber.close()
        remote.shutdown()
    text = check_transcript(demo, voicemail_id, message_audio)
    assert len(text.split()) >= 5


def test_no_speech_engine_no_transcript_no_error(demo: Demo, message_audio: bytes) -> None:
    # Speech off: the call handler gives the vault sinks no transcriber.
    voicemail_id, meta = leave_voicemail(demo, None, message_audio[: 3 * BYTES_PER_SECOND],
                                         None)
    assert demo.vault.get(voicemail_id).size == 3 * BYTES_PER_SECOND
    # A transcriber with no engine skips too, without an error.
    transcriber = VoicemailTranscriber(demo.vault, None, audit_to(demo.db))
    assert transcriber.submit(voicemail_id, meta) is False
    assert transcriber.transcribe(voicemail_id, meta) is None
    assert transcripts(demo) == [] and transcribed_events(demo) == []


def test_saturated_engine_skips_with_one_line(
    demo: Demo, registry: ModelRegistry, message_audio: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    busy = SpeechEngine(registry, max_concurrent_streams=1)
    live_call = busy.start_utterance("fr")  # a live call holds the only stream
    assert not isinstance(live_call, StreamRefused)
    transcriber = VoicemailTranscriber(demo.vault, busy, audit_to(demo.db))
    try:
        with caplog.at_level(logging.INFO, logger="ivr_flows.transcription"):
            leave_voicemail(demo, transcriber, message_audio, None)
            assert transcriber.wait_idle(30)
    finally:
        transcriber.close()
        live_call.cancel()
        busy.shutdown()
    lines = [r.getMessage() for r in caplog.records if r.name == "ivr_flows.transcription"]
    assert len(lines) == 1 and "saturated" in lines[0] and CALL_ID in lines[0]
    assert transcripts(demo) == [] and transcribed_events(demo) == []


def test_an_emergency_heard_in_a_transcribed_voicemail_raises_an_urgent_escalation(
        demo: Demo, engine: SpeechEngine) -> None:
    """The real pipeline: the message is closed, transcribed by Vosk, assessed, escalated.
    The Korean test model stands in for French and hears espeak's Korean poorly, so the
    detector is extended (as a practice extends it) to take any word as an
    emergency: this checks the wiring; the detector's French and English are checked on
    text in tests/storage/test_escalation_followup.py and tests/understanding."""
    from ivr_flows.understanding.emergency import DEFAULT_DETECTOR
    from ivr_flows.voicemail_emergency import EmergencyVoicemails
    from storage import escalations

    detector = DEFAULT_DETECTOR.with_extra({"fr": [(r"\w+", 1.0)]})
    transcriber = VoicemailTranscriber(demo.vault, engine, audit_to(demo.db),
                                       on_transcript=EmergencyVoicemails(demo.db, detector))
    audio = telephone_speech(PHRASES[0], lead=0.3, trail=0.8)
    try:
        voicemail_id, _meta = leave_voicemail(demo, transcriber, audio, None)
        assert transcriber.wait_idle(180)
    finally:
        transcriber.close()
    (transcript,) = transcripts(demo)
    heard = read_text(demo.vault, transcript.id)[0]
    (urgent,) = escalations.open_escalations(demo.db) or [heard]
    assert not isinstance(urgent, str), f"no escalation; the model heard {heard!r}"
    assert urgent.priority and urgent.voicemail_object_id == voicemail_id
    assert urgent.context["reason"] == "emergency_voicemail"
    assert urgent.context["transcript_object_id"] == transcript.id
