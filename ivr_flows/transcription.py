"""Voicemail transcribed after the call, off its critical path, when a speech model is present.

Once a voicemail is closed in the vault, :class:`VoicemailTranscriber` puts it on a small
queue; one background thread per worker reads the audio back from the vault (decrypted
chunk by chunk, in memory only), decodes it with the speech engine the calls already use
(in-process ``speech.recognizer.SpeechEngine`` or the pool's
``speech.client.RemoteSpeechEngine``) and stores the text as an encrypted ``transcript``
vault object with the voicemail's call id, practice, practitioner and patient: the
API finds a voicemail's transcript by those (docs/api.md). One audit event,
``voicemail.transcribed``, carries ids and counts, never the text.

A voicemail is longer than one utterance: consecutive utterances are decoded until the
audio is used up, each resuming where the previous one stopped, and their texts joined.
No engine, an engine refusing (saturated, no model for the language, unreachable), a
full queue: no transcript, one log line. A slow call is worse than a missing transcript.
"""

from __future__ import annotations

import array
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ivr_flows.call import AuditRecorder, SinkFactory, VoicemailMeta
from ivr_flows.channel import MessageSink
from speech.recognizer import BYTES_PER_SECOND, EndReason, StreamRefused, UtteranceLimits
from storage.models import ObjectKind
from storage.vault import VaultWriter

log = logging.getLogger(__name__)

TRANSCRIPT_MEDIA_TYPE = "text/plain; charset=utf-8"
ACTOR = "system:voicemail-transcription"
PURPOSE = "voicemail transcription for the practice"
FRAME_BYTES = BYTES_PER_SECOND // 50  # 20 ms, as the calls feed it
WINDOW_SECONDS = 20.0  # audio handed to one utterance at most
CUT_SEARCH_SECONDS = 3.0  # a window is cut at the quietest frame of its last seconds
TAIL_IGNORED_BYTES = BYTES_PER_SECOND // 4  # a last quarter second is not worth decoding
# Audio arrives far faster than real time: the whole window may wait in the stream's queue
# (the speech server caps queue_seconds at 30 and max_seconds at 60).
LIMITS = UtteranceLimits(silence_timeout=10.0, end_silence=1.2,
                         max_seconds=WINDOW_SECONDS + 1.0,
                         queue_seconds=WINDOW_SECONDS + 5.0, stall_timeout=10.0)


class SpeechEngineLike(Protocol):
    def start_utterance(self, language: str, *, phrases: Any = None, on_partial: Any = None,
                        limits: UtteranceLimits | None = None) -> Any: ...


class NotTranscribed(Exception):
    """The engine refused or failed: no transcript (the reason is a code, no content)."""


TranscriptHook = Callable[[str, VoicemailMeta, str, str], None]
"""Called with (voicemail id, its meta, the text, the transcript's vault id)."""


@dataclass(frozen=True)
class Transcription:
    text: str
    utterances: int
    audio_seconds: float


def transcribe_pcm(engine: SpeechEngineLike, language: str, pcm: Iterable[bytes], *,
                   result_timeout: float = 120.0) -> Transcription:
    """Decode 16 kHz mono s16le audio of any length as consecutive utterances.

    ``pcm`` is read lazily: at most one window (20 s) of audio is held in memory.
    Raises :class:`NotTranscribed` when the engine refuses or a decode fails.
    """
    source = iter(pcm)
    pending = bytearray()
    exhausted = False
    texts: list[str] = []
    utterances = 0
    consumed_total = 0
    window = int(WINDOW_SECONDS * BYTES_PER_SECOND)
    while True:
        while not exhausted and len(pending) < window:
            piece = next(source, None)
            if piece is None:
                exhausted = True
            else:
                pending += piece
        usable = len(pending) - len(pending) % (FRAME_BYTES if not exhausted else 2)
        if usable < (TAIL_IGNORED_BYTES if exhausted else FRAME_BYTES):
            break
        cut = usable if exhausted and usable <= window else _cut_point(pending, window)
        consumed = _decode_one(engine, language, memoryview(pending)[:cut], result_timeout,
                               texts)
        utterances += 1
        del pending[:consumed]
        consumed_total += consumed
    return Transcription(" ".join(texts), utterances, round(consumed_total / BYTES_PER_SECOND, 2))


def _decode_one(engine: SpeechEngineLike, language: str, audio: memoryview,
                result_timeout: float, texts: list[str]) -> int:
    """One utterance over ``audio``; its text goes to ``texts``; returns the bytes used."""
    stream = engine.start_utterance(language, limits=LIMITS)
    if isinstance(stream, StreamRefused):
        raise NotTranscribed(f"speech engine refused ({stream.reason})")
    try:
        for start in range(0, len(audio), FRAME_BYTES):
            if not stream.feed(bytes(audio[start:start + FRAME_BYTES])):
                break
        stream.end_input()
        result = stream.result(result_timeout)
    except BaseException:
        stream.cancel()
        raise
    if result.end_reason is EndReason.INPUT_ENDED:
        return _keep(texts, result.text, len(audio))
    used = round(result.audio_seconds * 50) * FRAME_BYTES  # frames the decoder took
    if used <= 0:
        raise NotTranscribed(f"decoding ended without progress ({result.end_reason})")
    return _keep(texts, result.text, min(used, len(audio)))


def _keep(texts: list[str], text: str, used: int) -> int:
    if text:
        texts.append(text)
    return used


def _cut_point(pending: bytearray, window: int) -> int:
    """Where to end a window: after the quietest 20 ms frame of its last seconds."""
    end = min(window, len(pending)) // FRAME_BYTES * FRAME_BYTES
    first = max(FRAME_BYTES, end - int(CUT_SEARCH_SECONDS * BYTES_PER_SECOND))
    best, best_energy = end, None
    for stop in range(end, first - 1, -FRAME_BYTES):
        samples = array.array("h", bytes(pending[stop - FRAME_BYTES:stop]))
        energy = sum(s * s for s in samples)
        if best_energy is None or energy < best_energy:
            best, best_energy = stop, energy
    return best


@dataclass(frozen=True)
class _Job:
    voicemail_id: str
    meta: VoicemailMeta


class VoicemailTranscriber:
    """Transcribes closed voicemails in one background thread (bounded queue).

    ``engine`` is the speech engine the calls use (None: speech is off, nothing is
    transcribed). ``audit`` writes one event per transcript (``services.audit_to(db)``).
    """

    def __init__(self, vault: Any, engine: SpeechEngineLike | None, audit: AuditRecorder, *,
                 max_waiting: int = 8, result_timeout: float = 120.0,
                 on_transcript: TranscriptHook | None = None) -> None:
        self.vault = vault
        self.engine = engine
        self.audit = audit
        self.on_transcript = on_transcript  # e.g. voicemail_emergency.EmergencyVoicemails
        self.result_timeout = result_timeout
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=max_waiting)
        self._idle = threading.Condition()
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    def submit(self, voicemail_id: str, meta: VoicemailMeta) -> bool:
        """Queue a closed voicemail; never blocks. False (one log line) when skipped."""
        if self.engine is None:
            log.info("call %s: voicemail %s not transcribed: speech is off", meta.call_id,
                     voicemail_id)
            return False
        if self._closed:
            return False
        self._ensure_thread()
        with self._idle:
            self._busy += 1
        try:
            self._jobs.put_nowait(_Job(voicemail_id, meta))
        except queue.Full:
            self._done_one()
            log.warning("call %s: voicemail %s not transcribed: %d voicemails already "
                        "waiting", meta.call_id, voicemail_id, self._jobs.maxsize)
            return False
        return True

    def transcribe(self, voicemail_id: str, meta: VoicemailMeta) -> str | None:
        """Transcribe one voicemail now; the transcript's vault id, or None (logged)."""
        if self.engine is None:
            return None
        try:
            with self.vault.open(voicemail_id) as reader:
                found = transcribe_pcm(self.engine, meta.language, reader,
                                       result_timeout=self.result_timeout)
        except NotTranscribed as exc:
            log.warning("call %s: voicemail %s not transcribed: %s", meta.call_id,
                        voicemail_id, exc)
            return None
        if not found.text:
            log.info("call %s: voicemail %s: no words recognised, no transcript", meta.call_id,
                     voicemail_id)
            return None
        transcript_id = self.vault.put(
            ObjectKind.TRANSCRIPT, found.text.encode("utf-8"), practice_id=meta.practice_id,
            patient_id=meta.patient_id, practitioner_id=meta.practitioner_id,
            call_id=meta.call_id, media_type=TRANSCRIPT_MEDIA_TYPE,
        )
        self.audit(actor=ACTOR, action="voicemail.transcribed", object_type="vault_object",
                   object_id=transcript_id, purpose=PURPOSE, patient_id=meta.patient_id,
                   practice_id=meta.practice_id,
                   detail={"voicemail": voicemail_id, "utterances": found.utterances,
                           "audio_seconds": found.audio_seconds})
        log.info("call %s: voicemail %s transcribed (%d utterances, %.1f s)", meta.call_id,
                 voicemail_id, found.utterances, found.audio_seconds)
        if self.on_transcript is not None:
            self.on_transcript(voicemail_id, meta, found.text, transcript_id)
        return transcript_id

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued voicemail is done (tests, shutdown); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking voicemails; let the thread finish the one in hand."""
        self._closed = True
        thread = self._thread
        if thread is not None:
            with contextlib.suppress(queue.Full):
                self._jobs.put(None, timeout=timeout)
            thread.join(timeout)

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="voicemail-transcription")
                self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self.transcribe(job.voicemail_id, job.meta)
            except Exception as exc:  # a broken vault or database: this voicemail only
                log.error("call %s: voicemail %s not transcribed (%s)", job.meta.call_id,
                          job.voicemail_id, type(exc).__name__)
            finally:
                self._done_one()

    def _done_one(self) -> None:
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()


class _TranscribedOnClose:
    """A voicemail sink that hands the message to the transcriber once it is closed."""

    def __init__(self, sink: MessageSink, meta: VoicemailMeta,
                 transcriber: VoicemailTranscriber) -> None:
        self._sink = sink
        self._meta = meta
        self._transcriber = transcriber

    def append(self, data: bytes) -> None:
        self._sink.append(data)

    def close(self) -> Any:
        size = self._sink.close()
        object_id = getattr(self._sink, "object_id", None)
        if object_id is not None and size:
            self._transcriber.submit(object_id, self._meta)
        return size

    def abort(self) -> None:
        self._sink.abort()


def transcribed_sinks(sinks: SinkFactory, transcriber: VoicemailTranscriber) -> SinkFactory:
    """``sinks`` whose vault voicemails are transcribed once closed (spooled ones are not)."""

    def create(meta: VoicemailMeta) -> MessageSink:
        sink = sinks(meta)
        if not isinstance(sink, VaultWriter):
            return sink  # spooled while the database is down: no vault id to file it under
        return _TranscribedOnClose(sink, meta, transcriber)

    return create


def pcm_chunks(data: bytes, size: int = 65536) -> Iterator[bytes]:
    """``data`` in pieces (tests, benchmarks): the shape a vault reader yields."""
    for start in range(0, len(data), size):
        yield data[start:start + size]
