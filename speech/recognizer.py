"""Per-utterance recognition: caller frames in, partial results out, one final result.

Threading: the SIP thread only calls :meth:`UtteranceStream.feed` (never blocks: a full queue
means this machine is too slow right now, and the utterance ends as ``OVERLOADED`` so the call
falls back to keys). Decoding runs in a pool thread per active utterance; the Vosk C calls
release the GIL, so streams decode in parallel. All streams of a language share one model.

The number of utterances decoded at once is capped (``speech.max_concurrent_streams``): when
the cap is reached :meth:`SpeechEngine.start_utterance` refuses at once with
:class:`StreamRefused` rather than letting every call get slow.

Recognizers are reused from utterance to utterance (:mod:`speech.warm_recognizers`): their
decoding graph stays warm, which cuts free decoding's CPU by about four.

Audio is 16 kHz mono signed 16-bit little-endian PCM. Timeouts count audio time, which is wall
time when frames arrive live from a call.
"""

from __future__ import annotations

import array
import contextlib
import json
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from speech.grammar import UNKNOWN_TOKEN, DecodingMode, GrammarPlan, plan_grammar
from speech.models import LoadedModel, ModelRegistry
from speech.warm_recognizers import Lease, WarmRecognizers

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
BYTES_PER_SECOND = SAMPLE_RATE * 2
PARTIAL_EVERY_SECONDS = 0.1

# Frames of exact digital silence (RTP silence suppression, a muted line) stop Vosk's
# endpointing from ever firing (measured here); such frames are swapped for a faint hiss.
_HISS = array.array("h", (random.Random(16_000).randint(-8, 8) for _ in range(SAMPLE_RATE)))
_HISS_BYTES = _HISS.tobytes()
HISS_FRAME = _HISS_BYTES[: BYTES_PER_SECOND // 50]  # 20 ms


QUIET_RMS = 300  # about -40 dBFS: line noise, not a voice


def _quiet(frame: bytes) -> bool:
    """True when ``frame`` is no louder than line noise."""
    samples = array.array("h")
    samples.frombytes(frame[: len(frame) // 2 * 2])
    if not samples:
        return True
    return sum(s * s for s in samples) <= QUIET_RMS * QUIET_RMS * len(samples)


def _audible(frame: bytes) -> bytes:
    """``frame`` unchanged, or a faint hiss of the same length if it is all zero bytes."""
    if frame.strip(b"\0") or len(frame) > len(_HISS_BYTES):
        return frame
    return _HISS_BYTES[: len(frame)]


@dataclass(frozen=True)
class UtteranceLimits:
    """When an utterance ends besides Vosk's own endpointing."""

    silence_timeout: float = 5.0  # no speech at all after this much audio: end, nothing heard
    end_silence: float = 1.2  # quiet audio after speech that ends the utterance anyway
    max_seconds: float = 15.0  # the longest answer we wait for
    queue_seconds: float = 5.0  # audio that may wait for the decoder before we call it overload
    stall_timeout: float = 10.0  # wall seconds without any frame: the media stopped
    # False when the caller's turn is ended by the voice detector (speech.turns): Vosk's own
    # endpoint then only closes a segment (joined to the next), it never ends the utterance.
    vosk_endpoint: bool = True


class EndReason(StrEnum):
    ENDPOINT = "endpoint"  # Vosk heard speech then enough trailing silence
    QUIET_AFTER_SPEECH = "quiet_after_speech"  # our energy check, when Vosk's endpoint lags
    SILENCE_TIMEOUT = "silence_timeout"
    MAX_LENGTH = "max_length"
    INPUT_ENDED = "input_ended"  # end_input() was called (key pressed, hang-up)
    STALLED = "stalled"  # no frame for stall_timeout wall seconds
    CANCELLED = "cancelled"
    OVERLOADED = "overloaded"  # the decoder fell behind; fall back to keys
    FAILED = "failed"


class RefusalReason(StrEnum):
    SATURATED = "saturated"  # max_concurrent_streams already decoding
    NO_MODEL = "no_model"  # speech is off for this language
    SHUT_DOWN = "shut_down"
    UNAVAILABLE = "unavailable"  # the speech server (speech.client) cannot be reached


@dataclass(frozen=True)
class StreamRefused:
    """start_utterance said no, at once: the flow uses keys for this question."""

    reason: RefusalReason


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float
    start: float
    end: float


@dataclass(frozen=True)
class UtteranceResult:
    """What was heard. ``text`` is empty when nothing usable was said."""

    text: str
    confidence: float
    words: tuple[Word, ...]
    end_reason: EndReason
    audio_seconds: float
    decoding: DecodingMode
    finished_at: float = field(default_factory=time.monotonic, compare=False)

    @property
    def heard(self) -> bool:
        return bool(self.text)


PartialCallback = Callable[[str], None]

_END = object()


class UtteranceStream:
    """One utterance being decoded. Feed it frames; read partials; wait for the result."""

    def __init__(
        self,
        model: LoadedModel,
        plan: GrammarPlan,
        limits: UtteranceLimits,
        on_partial: PartialCallback | None,
        recognizers: WarmRecognizers | None = None,
    ) -> None:
        self.model = model
        self._recognizers = recognizers or WarmRecognizers(SAMPLE_RATE, per_grammar=0)
        self.plan = plan
        self.limits = limits
        self._on_partial = on_partial
        self._lease: Lease | None = None
        max_bytes = int(limits.queue_seconds * BYTES_PER_SECOND)
        self._queue: queue.Queue[object] = queue.Queue()
        self._queued_bytes = 0
        self._max_queued_bytes = max_bytes
        self._count_lock = threading.Lock()
        self._overloaded = threading.Event()
        self._cancelled = threading.Event()
        self._closed = False
        self._partial = ""
        self.future: Future[UtteranceResult] = Future()

    # -- called by the call's thread -------------------------------------------------------

    def feed(self, frame: bytes) -> bool:
        """Queue caller audio without blocking. False if the stream is over or overloaded."""
        if self._closed or self.future.done():
            return False
        with self._count_lock:
            if self._queued_bytes + len(frame) > self._max_queued_bytes:
                self._overloaded.set()
                self._closed = True
                self._queue.put(_END)
                return False
            self._queued_bytes += len(frame)
        self._queue.put(frame)
        return True

    def end_input(self) -> None:
        """No more audio will come: finish with what was heard so far."""
        if not self._closed:
            self._closed = True
            self._queue.put(_END)

    def cancel(self) -> None:
        """Drop the utterance (the caller pressed a key the flow acts on, or hung up)."""
        self._cancelled.set()
        self.end_input()

    @property
    def partial(self) -> str:
        """The latest partial text (for barge-in); empty before any speech."""
        return self._partial

    @property
    def done(self) -> bool:
        return self.future.done()

    def result(self, timeout: float | None = None) -> UtteranceResult:
        """Wait for the final result."""
        return self.future.result(timeout)

    # -- runs in a pool thread -------------------------------------------------------------

    def _run(self) -> UtteranceResult:
        try:
            self._lease = self._recognizers.take(self.model, self.plan.grammar_json)
            return self._decode(self._lease)
        except Exception as exc:  # broken infrastructure: report it, end the utterance
            self._lease = None
            log.error("speech decoding failed (%s)", exc.__class__.__name__)
            return self._result({}, EndReason.FAILED, 0.0)

    def _recycle(self) -> None:
        """Once the result is out: empty the recognizer of this caller's audio, keep it warm."""
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            lease.empty(HISS_FRAME, 0.02)
        except Exception as exc:
            log.error("speech recognizer not reusable (%s)", exc.__class__.__name__)
            return
        self._recognizers.give_back(lease)

    def _decode(self, lease: Lease) -> UtteranceResult:
        recognizer: Any = lease.recognizer
        limits = self.limits
        audio = 0.0
        since_partial = 0.0
        heard_something = False
        quiet_run = 0.0  # seconds of quiet audio since the last loud frame
        segments: list[dict] = []  # closed by Vosk's endpoint when it does not end the turn

        def final() -> dict:
            last = _parse(recognizer.FinalResult())
            lease.finalized()
            return _rebased(_join([*segments, last]), lease.offset_seconds)

        while True:
            try:
                item = self._queue.get(timeout=limits.stall_timeout)
            except queue.Empty:
                return self._result(final(), EndReason.STALLED, audio)
            if self._cancelled.is_set():
                return self._result({}, EndReason.CANCELLED, audio)
            if self._overloaded.is_set():
                return self._result({}, EndReason.OVERLOADED, audio)
            if item is _END:
                return self._result(final(), EndReason.INPUT_ENDED, audio)
            frame = item if isinstance(item, bytes) else bytes(item)  # type: ignore[arg-type]
            with self._count_lock:
                self._queued_bytes -= len(frame)
            seconds = len(frame) / BYTES_PER_SECOND
            audio += seconds
            since_partial += seconds
            quiet_run = quiet_run + seconds if _quiet(frame) else 0.0
            lease.fed(seconds)
            if recognizer.AcceptWaveform(_audible(frame)):
                parsed = _parse(recognizer.Result())
                lease.endpoint()
                if parsed.get("text") and limits.vosk_endpoint:
                    return self._result(_rebased(parsed, lease.offset_seconds),
                                        EndReason.ENDPOINT, audio)
                if parsed.get("text"):
                    segments.append(parsed)
                    heard_something = True
                    # the words so far at once, not at the next partial (end of turn)
                    self._publish_partial(_clean(_said(segments)))
            elif since_partial >= PARTIAL_EVERY_SECONDS:
                since_partial = 0.0
                raw = json.loads(recognizer.PartialResult()).get("partial", "")
                if raw:
                    heard_something = True
                    # the closed segments' words too: a partial answers for the whole turn
                    self._publish_partial(_clean(f"{_said(segments)} {raw}".strip()))
            if heard_something and quiet_run >= limits.end_silence:
                return self._result(final(), EndReason.QUIET_AFTER_SPEECH, audio)
            if not heard_something and audio >= limits.silence_timeout:
                return self._result({}, EndReason.SILENCE_TIMEOUT, audio)
            if audio >= limits.max_seconds:
                return self._result(final(), EndReason.MAX_LENGTH, audio)

    def _publish_partial(self, text: str) -> None:
        if text == self._partial:
            return
        self._partial = text
        if self._on_partial is not None:
            try:
                self._on_partial(text)
            except Exception as exc:
                log.error("partial-result callback failed (%s)", exc.__class__.__name__)

    def _result(self, parsed: dict, reason: EndReason, audio: float) -> UtteranceResult:
        self._closed = True
        words = tuple(
            Word(w["word"], float(w.get("conf", 0.0)), float(w["start"]), float(w["end"]))
            for w in parsed.get("result", ())
            if w.get("word") != UNKNOWN_TOKEN
        )
        text = _clean(parsed.get("text", ""))
        confidence = sum(w.confidence for w in words) / len(words) if words and text else 0.0
        return UtteranceResult(
            text=text,
            confidence=round(confidence, 3),
            words=words if text else (),
            end_reason=reason,
            audio_seconds=round(audio, 3),
            decoding=self.plan.mode,
        )


def _parse(raw: str) -> dict:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _rebased(parsed: dict, offset: float) -> dict:
    """Word times from the utterance's start: a reused recognizer counts all it decoded."""
    if not offset or not parsed.get("result"):
        return parsed
    words = [{**w, "start": max(0.0, float(w.get("start", 0.0)) - offset),
              "end": max(0.0, float(w.get("end", 0.0)) - offset)} for w in parsed["result"]]
    return {**parsed, "result": words}


def _said(segments: list[dict]) -> str:
    """The words of the segments Vosk's endpoint closed so far."""
    return " ".join(text for segment in segments if (text := segment.get("text")))


def _join(parts: list[dict]) -> dict:
    """Vosk results of consecutive segments as one result."""
    texts = [p.get("text", "") for p in parts if p.get("text")]
    words = [w for p in parts for w in p.get("result", ())]
    return {"text": " ".join(texts), "result": words}


def _clean(text: str) -> str:
    return " ".join(word for word in text.split() if word != UNKNOWN_TOKEN)


class SpeechEngine:
    """Starts utterances on shared models, at most ``max_concurrent_streams`` at a time."""

    def __init__(
        self,
        models: ModelRegistry,
        *,
        max_concurrent_streams: int = 8,
        limits: UtteranceLimits | None = None,
        warm: int | None = None,
    ) -> None:
        """``warm``: recognizers kept per grammar between utterances (default: one per
        stream; 0: none)."""
        self.models = models
        self.max_concurrent_streams = max_concurrent_streams
        self.recognizers = WarmRecognizers(
            SAMPLE_RATE, per_grammar=max_concurrent_streams if warm is None else warm)
        self.limits = limits or UtteranceLimits()
        self._slots = threading.BoundedSemaphore(max_concurrent_streams)
        self._pool = ThreadPoolExecutor(
            max_workers=max_concurrent_streams, thread_name_prefix="speech"
        )
        self._active: set[UtteranceStream] = set()
        self._lock = threading.Lock()
        self._shut = False
        self._stop_warming = threading.Event()
        self.warming: threading.Thread | None = None

    def prewarm_in_background(self, speech: Mapping[str, bytes]) -> threading.Thread:
        """Warm one free-decoding recognizer per stream for each language of ``speech``
        (16 kHz PCM in that language: the practice's own prompts), in a thread at the lowest
        CPU priority, so that the first callers of a busy hour do not pay for new ones
        (docs/speech.md). Stops at :meth:`shutdown`."""

        def warm() -> None:
            with contextlib.suppress(OSError):  # Linux: this thread only
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
            started = time.monotonic()
            for language, audio in speech.items():
                if not audio or not self.models.has(language):
                    continue
                try:
                    added = self.recognizers.prewarm(self.models.get(language), audio,
                                                     HISS_FRAME, self._stop_warming)
                except Exception as exc:  # a warm-up is an optimisation: say so, go on
                    log.warning("speech recognizers not warmed for %s (%s)", language,
                                exc.__class__.__name__)
                    continue
                log.info("speech: %d recognizers warmed for %s in %.0f s", added, language,
                         time.monotonic() - started)

        self.warming = threading.Thread(target=warm, name="speech-prewarm", daemon=True)
        self.warming.start()
        return self.warming

    @property
    def active_streams(self) -> int:
        with self._lock:
            return len(self._active)

    def start_utterance(
        self,
        language: str,
        *,
        phrases: list[str] | tuple[str, ...] | None = None,
        on_partial: PartialCallback | None = None,
        limits: UtteranceLimits | None = None,
    ) -> UtteranceStream | StreamRefused:
        """Start decoding one utterance, or refuse at once (the flow then uses keys).

        ``phrases``: the closed set of answers (e.g. ``["oui", "non"]``); decoding is held to
        them where the model allows, else it is free (see ``stream.plan``).
        ``on_partial`` runs in the decoding thread: it must only enqueue.
        """
        if self._shut:
            return StreamRefused(RefusalReason.SHUT_DOWN)
        if not self.models.has(language):
            return StreamRefused(RefusalReason.NO_MODEL)
        if not self._slots.acquire(blocking=False):
            return StreamRefused(RefusalReason.SATURATED)
        try:
            model = self.models.get(language)
            stream = UtteranceStream(
                model, plan_grammar(model, phrases), limits or self.limits, on_partial,
                self.recognizers,
            )
            with self._lock:
                self._active.add(stream)
            inner = self._pool.submit(stream._run)
        except BaseException:
            self._slots.release()
            raise
        inner.add_done_callback(lambda done: self._finish(stream, done))
        return stream

    def _finish(self, stream: UtteranceStream, done: Future[UtteranceResult]) -> None:
        with self._lock:
            self._active.discard(stream)
        self._slots.release()
        exc = done.exception()
        if exc is not None:
            stream.future.set_exception(exc)
        else:
            stream.future.set_result(done.result())
        stream._recycle()  # after the result: the caller does not wait for it

    def shutdown(self) -> None:
        """Cancel every utterance in progress and stop the decoding threads."""
        self._shut = True
        self._stop_warming.set()
        with self._lock:
            active = list(self._active)
        for stream in active:
            stream.cancel()
        self._pool.shutdown(wait=True)
