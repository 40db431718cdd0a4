"""The interface the IVR drives a call through, from an ordinary thread that knows nothing of SIP.

Every blocking method takes a timeout and raises :class:`CallEnded` once the call is over
(caller hung up, media timeout, engine shutdown, transfer done). See docs/call-interface.md.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from telephony.audio import BYTES_PER_SECOND, FRAME_MS, SAMPLE_RATE, load_prompt
from telephony.dtmf import DigitBuffer
from telephony.media import CallerAudioTap, FrameQueue, PromptPlayer, StopReason
from telephony.recording import RecordingSink, StereoRecorder
from telephony.resample import prompt_at


class CallEnded(Exception):
    """The call is over; ``reason`` says why (e.g. 'caller hung up')."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CallInfo:
    call_id: str  # the SIP Call-ID (safe for logs)
    caller: str  # user part of From (a phone number: never log it)
    dialled: str  # user part of the request URI (the number the caller dialled)
    source: str  # ip:port the INVITE came from
    transport: str = "UDP"  # SIP transport the INVITE came over: UDP, TCP or TLS


@dataclass(frozen=True)
class PlayResult:
    reason: StopReason  # FINISHED, KEY, SPEECH or STOPPED
    played_ms: int
    started_at: float = 0.0  # time.monotonic() when the first frame left (0: never started)


@dataclass(frozen=True)
class Digits:
    digits: str
    terminated: bool  # the terminator key ended the entry
    timed_out: bool


@dataclass(frozen=True)
class HeardSpeech:
    """What the caller said, as audio (the IVR's recognizer turns it into words)."""

    pcm: bytes  # engine format, from shortly before speech started to its end
    complete: bool  # False when cut at max_seconds

    @property
    def duration_ms(self) -> int:
        return len(self.pcm) * 1000 // BYTES_PER_SECOND


@dataclass(frozen=True)
class TransferResult:
    ok: bool
    status_code: int  # final SIP status reported for the transfer (0 if none)
    detail: str = ""


@dataclass(frozen=True)
class BridgeResult(TransferResult):
    """Outcome of :meth:`CallSession.bridge`: who answered, or why nobody did."""

    answered_by: str = ""  # the target URI that answered ('' when not ok)


@dataclass(frozen=True)
class CallEvent:
    kind: str  # "ended" | "error" | "transfer" | "hold" | "resume" | "bridge"
    detail: str = ""


class CallControl(Protocol):
    """What a session asks of the SIP side (telephony.sip_call implements it on the SIP thread)."""

    def request_hangup(self) -> None: ...

    def request_transfer(self, target_uri: str) -> Future[TransferResult]: ...

    def request_bridge(self, targets: list[str], ring_seconds: float) -> Future[BridgeResult]: ...


@dataclass
class _State:
    ended_reason: str | None = None
    recorder: StereoRecorder | None = None
    events: queue.SimpleQueue[CallEvent] = field(default_factory=queue.SimpleQueue)


class CallSession:
    """One answered call as the IVR sees it."""

    def __init__(self, info: CallInfo, control: CallControl, *,
                 sample_rate: int = SAMPLE_RATE) -> None:
        self.info = info
        # the bridge's rate: prompts are played and the call recorded at it; what
        # audio_frames() and listen() give is always the engine format (16 kHz)
        self.sample_rate = sample_rate
        self.player = PromptPlayer(sample_rate)
        self.tap = CallerAudioTap(self.player)
        self.digits = DigitBuffer()
        self._control = control
        self._state = _State()
        self._ended = threading.Event()
        self._lock = threading.Lock()
        # set by the SIP side when media is (re)negotiated
        self.media_encrypted = False  # SRTP in use on the call's audio
        self.on_hold = False  # the caller put us on hold (sendonly/inactive)
        self.bridged_to = ""  # target URI while a bridged transfer is connected
        # how the last bridged answerer left: "" (hung up), "lost" (her leg went silent:
        # page reloaded or closed) or "voicemail" (she passed the caller to voicemail_for)
        self.bridge_left = ""
        self.voicemail_for = ""  # a practitioner's slug the answerer chose (box-<slug>)

    # -- call facts --------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self.info.call_id

    @property
    def caller(self) -> str:
        return self.info.caller

    @property
    def dialled(self) -> str:
        return self.info.dialled

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    @property
    def end_reason(self) -> str | None:
        return self._state.ended_reason

    def wait_ended(self, timeout: float | None = None) -> bool:
        """Block until the call is over (True) or the timeout passes (False)."""
        return self._ended.wait(timeout)

    def next_event(self, timeout: float | None = None) -> CallEvent | None:
        """The next call event ('ended', 'error', 'transfer'), or None after the timeout."""
        try:
            return self._state.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def _check(self) -> None:
        if self._ended.is_set():
            raise CallEnded(self._state.ended_reason or "call ended")

    # -- prompts -----------------------------------------------------------------------
    def play(
        self, audio: bytes | str | Path, *, barge_in: bool = True,
        speech_barge_in: bool | None = None, timeout: float | None = None,
    ) -> PlayResult:
        """Play 16 kHz mono s16 PCM (or a WAV file) to the caller and wait until it ends.

        With ``barge_in`` a key or the caller's speech stops it; the key stays buffered
        for :meth:`collect_digits`. ``speech_barge_in=False``: keys only (the caller's
        audio is then not examined while it plays, unless something else listens).
        ``timeout`` defaults to the prompt length + 5 s.
        """
        self._check()
        pcm = load_prompt(audio)
        if barge_in and self.digits.pending():
            return PlayResult(StopReason.KEY, 0)
        prompt = self.player.start(prompt_at(pcm, self.sample_rate), barge_in=barge_in,
                                   speech_barge_in=speech_barge_in)
        limit = timeout if timeout is not None else len(pcm) / BYTES_PER_SECOND + 5.0
        if not prompt.done.wait(limit):
            self.player.interrupt(StopReason.STOPPED, only_barge_in=False)
        self._check()
        return PlayResult(
            prompt.reason or StopReason.STOPPED, prompt.played_ms, prompt.first_frame_at
        )

    def stop_playing(self) -> None:
        self.player.interrupt(StopReason.STOPPED, only_barge_in=False)

    # -- keys --------------------------------------------------------------------------
    def collect_digits(
        self,
        max_digits: int = 1,
        timeout: float = 5.0,
        terminator: str | None = "#",
        inter_digit_timeout: float | None = None,
    ) -> Digits:
        """Wait for keys (RFC 4733 or SIP INFO), including those typed during a prompt."""
        self._check()
        digits, terminated = self.digits.collect(
            max_digits, timeout, terminator, inter_digit_timeout
        )
        self._check()
        return Digits(digits, terminated, not terminated and len(digits) < max_digits)

    @property
    def last_key_at(self) -> float:
        """time.monotonic() when the last key arrived (0.0 if none yet)."""
        return self.digits.last_key_at

    def flush_digits(self) -> None:
        self.digits.clear()

    # -- caller audio ------------------------------------------------------------------
    @contextlib.contextmanager
    def audio_frames(self, max_frames: int = 250) -> Iterator[FrameQueue]:
        """Subscribe to the caller's frames (bounded, drop-oldest) for a recognizer."""
        self._check()
        frames = self.tap.subscribe(max_frames)
        try:
            yield frames
        finally:
            self.tap.unsubscribe(frames)

    def listen(
        self, timeout: float = 5.0, max_seconds: float = 15.0, preroll_ms: int = 300
    ) -> HeardSpeech | None:
        """Wait for the caller to speak and return what was said, or None if nothing was."""
        preroll: deque[bytes] = deque(maxlen=max(1, preroll_ms // FRAME_MS))
        spoken: list[bytes] = []
        with self.audio_frames(max_frames=int(max_seconds * 1000 / FRAME_MS) + 50) as frames:
            deadline = time.monotonic() + timeout
            while not spoken:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                item = frames.get(min(remaining, 0.2))
                self._check()
                if item is None:
                    continue
                frame, speaking = item
                if speaking:
                    spoken.extend(preroll)
                    spoken.append(frame)
                else:
                    preroll.append(frame)
            limit = int(max_seconds * 1000 / FRAME_MS)
            while len(spoken) < limit:
                item = frames.get(0.5)
                self._check()
                if item is None:
                    continue
                frame, speaking = item
                spoken.append(frame)
                if not speaking:
                    return HeardSpeech(b"".join(spoken), True)
            return HeardSpeech(b"".join(spoken), False)

    # -- recording ---------------------------------------------------------------------
    def start_recording(self, sink: RecordingSink) -> None:
        """Record caller (left) and engine (right) as s16 stereo at :attr:`sample_rate`
        into ``sink``."""
        self._check()
        with self._lock:
            if self._state.recorder is not None:
                raise RuntimeError("already recording; stop_recording() first")
            recorder = StereoRecorder(sink, name=f"rec-{self.call_id[:8]}", rate=self.sample_rate)
            self._state.recorder = recorder
            self.tap.attach_recorder(recorder)

    def stop_recording(self, *, abort: bool = False, wait: bool = True) -> None:
        """Finish the recording (the sink is closed), or abort it. Safe after hang-up.

        With ``wait`` (the default) it returns once the sink is closed.
        """
        with self._lock:
            recorder, self._state.recorder = self._state.recorder, None
        if recorder is not None:
            self.tap.attach_recorder(None)
            recorder.stop(abort=abort, timeout=5.0 if wait else 0.0)

    @property
    def recording(self) -> bool:
        return self._state.recorder is not None

    # -- escalation and end ------------------------------------------------------------
    def transfer(self, target_uri: str, timeout: float = 30.0) -> TransferResult:
        """Blind transfer by REFER; on success the call ends (CallEnded follows)."""
        self._check()
        return self._wait(self._control.request_transfer(target_uri), timeout)

    def bridge(
        self,
        targets: list[str],
        *,
        ring_seconds: float = 20.0,
        hold_audio: bytes | str | Path | None = None,
    ) -> BridgeResult:
        """Dial ``targets`` (first to answer wins), play hold audio meanwhile, then bridge.

        Returns once bridged (``ok``, ``answered_by``) or when nobody answered within
        ``ring_seconds`` (not ok: the call is still yours, e.g. to take a message). Each
        target dialled takes one of the worker's 4 lines; when no line is free the result
        is not ok at once (``detail`` says so). Once bridged, the caller talks to the
        target; a 'bridge' event with detail 'ended' says the target hung up (the call is
        then yours again), and hanging up or the caller leaving ends the target's call too.
        """
        self._check()
        hold = (prompt_at(load_prompt(hold_audio), self.sample_rate)
                if hold_audio is not None else None)
        prompt = self.player.start(hold, barge_in=False, loop=True) if hold else None
        try:
            future = self._control.request_bridge(list(targets), ring_seconds)
            result = self._wait(future, ring_seconds + 10.0)
        finally:
            if prompt is not None:
                self.player.interrupt(StopReason.STOPPED, only_barge_in=False, only=prompt)
        if not isinstance(result, BridgeResult):
            result = BridgeResult(result.ok, result.status_code, result.detail)
        return result

    def _wait(self, future: Future[TransferResult], timeout: float) -> TransferResult:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return future.result(timeout=0.1)
            except FutureTimeout:
                if future.done():
                    continue
                self._check()
                if time.monotonic() > deadline:
                    return TransferResult(False, 0, "timed out")

    def hangup(self) -> None:
        """End the call (no-op if it already ended)."""
        if not self._ended.is_set():
            self._control.request_hangup()

    # -- called by the SIP side --------------------------------------------------------
    def dtmf(self, digit: str) -> None:
        if self.digits.push(digit):
            self.player.interrupt(StopReason.KEY)
            self.tap.wake_listeners()

    def post_event(self, event: CallEvent) -> None:
        self._state.events.put(event)

    def mark_ended(self, reason: str) -> None:
        """The call is over: wake every blocked method, finish the recording."""
        if self._ended.is_set():
            return
        self._state.ended_reason = reason
        self._ended.set()
        self.player.interrupt(StopReason.CALL_ENDED, only_barge_in=False)
        self.digits.close()
        self.tap.close_all()
        self.post_event(CallEvent("ended", reason))
        self.stop_recording(wait=False)  # never block the SIP thread on the sink
