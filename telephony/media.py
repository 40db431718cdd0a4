"""Call audio between the conference bridge and Python.

``CallAudioPort`` is the pjsua2 ``AudioMediaPort`` of one call, at the bridge's rate (mono
s16, ``telephony.audio.FRAME_MS`` frames): 8 kHz on a narrowband worker, where G.711 calls
reach it without any resampling, 16 kHz on a wideband one. Its two callbacks run on the
media clock thread and only hand frames over:

* caller frames go to :class:`CallerAudioTap`, which fans out without blocking to the
  recognizer queues (bounded, drop-oldest; a queue hands its frames out in the engine
  format, 16 kHz, converting them on the listener's thread), the voice-activity detector
  and the recorder;
* engine frames come from :class:`PromptPlayer`, which prompts composed in memory feed.
"""

from __future__ import annotations

import array
import ctypes
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from enum import Enum

import pjsua2 as pj

from telephony.audio import FRAME_MS, SAMPLE_RATE
from telephony.recording import StereoRecorder
from telephony.resample import Upsampler
from telephony.vad import VadSettings, VoiceActivityDetector, VoiceEvent


def vector_bytes(vector: pj.ByteVector) -> bytes:
    """Copy a pjsua2 ``ByteVector`` to ``bytes`` in one memcpy.

    Iterating the SWIG vector costs ~0.4 ms per 20 ms of audio; reading the std::vector's
    begin/end pointers costs ~2 us. The length is checked against ``size()``.
    """
    begin, end = (ctypes.c_void_p * 2).from_address(int(vector.this))
    if not begin or not end:
        return b""
    data = ctypes.string_at(begin, end - begin)
    if len(data) != vector.size():  # not the expected layout: take the slow, safe path
        return bytes(vector)
    return data


def fill_vector(vector: pj.ByteVector, data: bytes) -> None:
    """Make ``vector`` (a frame's own buffer, modified in place) hold ``data``.

    ``pj.ByteVector(data)`` converts byte by byte (~15 us per 20 ms of audio); resizing the
    frame's vector and copying into it costs ~2 us.
    """
    if vector.size() != len(data):
        vector.resize(len(data))
    if not data:
        return
    begin, end = (ctypes.c_void_p * 2).from_address(int(vector.this))
    if begin and end and end - begin == len(data):
        ctypes.memmove(begin, data, len(data))
    else:  # not the expected layout: the slow, safe path
        vector.swap(pj.ByteVector(data))


PYGILSTATE_LOCKED = 0  # what PyGILState_Ensure returns on a thread already holding the GIL


class ClockThreadState:
    """Keeps the media clock thread's Python thread state alive while calls are up.

    The clock is a pjmedia thread, not a Python one: for each director callback, SWIG's
    ``PyGILState_Ensure`` creates a thread state (and CPython 3.11 maps a new frame stack
    for it) and ``PyGILState_Release`` destroys it, twice per port per tick. One extra
    ``Ensure`` taken on the clock thread keeps its state between callbacks (measured: the
    clock thread's CPU for 40 ports' callbacks 3.3 -> 1.5 % of a core). It is given back
    on that thread once no call holds a port (``wanted`` False, set by the port pool), before
    pjsua closes the idle clock (1 s later; a new clock thread is pinned at the next call),
    so no state is left behind with a dead thread.
    """

    def __init__(self) -> None:
        self.wanted = False  # set on the SIP thread: some port carries a call
        self.pinned: int | None = None  # the thread whose state is kept
        self._ensure = ctypes.pythonapi.PyGILState_Ensure
        self._ensure.restype = ctypes.c_int
        self._release = ctypes.pythonapi.PyGILState_Release
        self._release.argtypes = [ctypes.c_int]

    def sync(self) -> None:
        """Pin or unpin the calling thread's state as ``wanted`` says (clock thread only)."""
        ident = threading.get_ident()
        if self.wanted:
            if self.pinned != ident:  # (a previous clock thread's pin, if any, is lost)
                self._ensure()
                self.pinned = ident
        elif self.pinned == ident:
            self.pinned = None
            self._release(PYGILSTATE_LOCKED)


CLOCK_THREAD = ClockThreadState()


class StopReason(Enum):
    FINISHED = "finished"
    KEY = "key"
    SPEECH = "speech"
    STOPPED = "stopped"
    CALL_ENDED = "call_ended"


class PromptPlayback:
    """One prompt being played; ``done`` is set when it finished or was interrupted."""

    def __init__(self, pcm: bytes, barge_in: bool, loop: bool = False,
                 rate: int = SAMPLE_RATE, speech_barge_in: bool | None = None) -> None:
        self.pcm = pcm  # at the bridge's rate
        self.rate = rate
        self.barge_in = barge_in
        # the caller's voice stops it too (the energy detector watches the caller meanwhile)
        self.speech_barge_in = barge_in if speech_barge_in is None else (
            barge_in and speech_barge_in)
        self.loop = loop and bool(pcm)  # start again at the end (hold audio) until stopped
        self.position = 0
        self.reason: StopReason | None = None
        self.done = threading.Event()
        self.first_frame_at = 0.0  # time.monotonic() when its first frame left for the call

    def finish(self, reason: StopReason) -> None:
        if self.reason is None:
            self.reason = reason
            self.done.set()

    @property
    def played_ms(self) -> int:
        return self.position * 1000 // (2 * self.rate)


class PromptPlayer:
    """Holds the prompt being played and cuts it into frames for the media clock.

    ``pcm`` given to :meth:`start` is at the bridge's ``rate``.
    """

    def __init__(self, rate: int = SAMPLE_RATE) -> None:
        self.rate = rate
        self.frame_bytes = frame_bytes(rate)
        self.silent_frame = bytes(self.frame_bytes)
        self._lock = threading.Lock()
        self._current: PromptPlayback | None = None

    def start(self, pcm: bytes, *, barge_in: bool, loop: bool = False,
              speech_barge_in: bool | None = None) -> PromptPlayback:
        """Play ``pcm``; with ``barge_in`` a key stops it, and the caller's voice too unless
        ``speech_barge_in`` is False (keys only: the caller's audio is not examined)."""
        prompt = PromptPlayback(pcm, barge_in, loop, self.rate, speech_barge_in)
        with self._lock:
            previous, self._current = self._current, prompt
        if previous is not None:
            previous.finish(StopReason.STOPPED)
        return prompt

    def interrupt(
        self, reason: StopReason, *, only_barge_in: bool = True, only: PromptPlayback | None = None
    ) -> bool:
        """Stop the current prompt (if barge-in allows it); True if one was stopped.

        With ``only``, stop it only if it is that prompt.
        """
        with self._lock:
            prompt = self._current
            if prompt is None or (only_barge_in and not prompt.barge_in):
                return False
            if only_barge_in and reason is StopReason.SPEECH and not prompt.speech_barge_in:
                return False
            if only is not None and prompt is not only:
                return False
            self._current = None
        prompt.finish(reason)
        return True

    @property
    def wants_speech(self) -> bool:
        """Whether the prompt playing now stops on the caller's voice."""
        prompt = self._current
        return prompt is not None and prompt.speech_barge_in

    def next_frame(self) -> bytes:
        """The next frame of engine audio (silence when nothing plays). Media clock only."""
        size = self.frame_bytes
        with self._lock:
            prompt = self._current
            if prompt is None:
                return self.silent_frame
            start = prompt.position
            if start == 0:
                prompt.first_frame_at = time.monotonic()
            chunk = prompt.pcm[start : start + size]
            prompt.position = start + len(chunk)
            finished = prompt.position >= len(prompt.pcm)
            if finished and prompt.loop:
                prompt.position, finished = 0, False
            elif finished:
                self._current = None
        if finished:
            prompt.finish(StopReason.FINISHED)
        if len(chunk) < size:
            chunk = chunk.ljust(size, b"\0")
        return chunk


def frame_bytes(rate: int) -> int:
    """Bytes of one bridge frame (``FRAME_MS`` of mono s16) at ``rate``."""
    return rate * FRAME_MS // 1000 * 2


#: quiet frames a lazy listener may be left with before it is woken (200 ms)
QUIET_BATCH_FRAMES = 5
#: how far under ``FrameQueue.quiet_dbfs`` a frame must be for a counting listener to be
#: given its number instead of its samples: such frames side by side, resampled to 16 kHz,
#: cannot make a 32 ms window louder than ``quiet_dbfs`` (a window holds at most 2.5 times
#: the energy per sample of 40 ms frames, times 1.0006 for the 8 -> 16 kHz filter's gain:
#: +4.0 dB; 2 dB to spare)
QUIET_MARGIN_DB = 6.0


def as_frame(item: tuple[bytes, bool] | int) -> tuple[bytes, bool]:
    """An item of :meth:`FrameQueue.get_counted` as a (frame, speaking) pair: a counted
    silent run (an int, 16 kHz samples) as that many samples of zeros."""
    return (bytes(2 * item), False) if isinstance(item, int) else item


class FrameQueue:
    """A bounded queue of caller frames: when full, the oldest frame is dropped and counted.

    Frames go in at the bridge's ``rate`` and come out in the engine format (16 kHz): a
    narrowband call's frames are upsampled in :meth:`get`, on the listener's thread, and
    only for as long as something listens.

    A counting listener (``quiet_keep`` > 0, taking frames with :meth:`get_counted`) is not
    handed the samples of a silent caller at all: a run of frames more than
    ``QUIET_MARGIN_DB`` under ``quiet_dbfs`` is only counted, and only its last
    ``quiet_keep`` frames are kept as audio (what comes just before speech: pre-roll, the
    echo guard's block), handed over once a louder frame follows them.
    """

    def __init__(self, max_frames: int = 250, rate: int = SAMPLE_RATE) -> None:
        self._upsampler = Upsampler() if rate != SAMPLE_RATE else None
        self._frames: deque[tuple[bytes, bool] | int] = deque()  # an int: samples counted
        self._max = max_frames
        self._lock = threading.Lock()  # (not reentrant: a plain lock is cheaper per frame)
        self._ready = threading.Condition(self._lock)
        self._widen = SAMPLE_RATE // rate  # engine samples per sample of a frame
        self.dropped = 0
        self.closed = False
        self._woken = False  # wake() came: the next wait returns at once
        #: set by a listener that needs quiet frames only in order, not at once (a voice
        #: detector waiting for speech): frames under this level (dBFS) do not wake it until
        #: QUIET_BATCH_FRAMES are queued (or its own ``get`` timeout ends its wait); a louder
        #: frame wakes it at once, with the quiet ones before it. None: every frame wakes it
        self._quiet_dbfs: float | None = None
        self.quiet_batch = QUIET_BATCH_FRAMES  # quiet frames queued before they wake it
        self._quiet_keep = 0
        self._count_under = -math.inf  # frames under this level (dBFS) may be counted
        self._silent_before = False  # the last frame put was under the counting gate
        self._run: deque[bytes] = deque()  # the last frames of the silent run under way
        self._run_counted = 0  # engine samples of that run no longer kept

    @property
    def quiet_dbfs(self) -> float | None:
        return self._quiet_dbfs

    @quiet_dbfs.setter
    def quiet_dbfs(self, level: float | None) -> None:
        self._quiet_dbfs = level
        self._gate()

    @property
    def quiet_keep(self) -> int:
        """With ``quiet_dbfs``: frames of a silent run kept as audio for
        :meth:`get_counted` (the others are counted), 40 ms of them at least (a detector's
        window and the filter's history); 0: every frame is kept."""
        return self._quiet_keep

    @quiet_keep.setter
    def quiet_keep(self, frames: int) -> None:
        self._quiet_keep = frames
        self._gate()

    def _gate(self) -> None:
        quiet = self._quiet_dbfs
        self._count_under = (quiet - QUIET_MARGIN_DB if quiet is not None and self._quiet_keep
                             else -math.inf)

    def put(self, frame: bytes, speaking: bool, level_dbfs: float = 0.0) -> None:
        if level_dbfs < self._count_under and not speaking and self._silent_before:
            with self._lock:  # a run's frame (the common case): kept for now, no wake-up
                run = self._run
                if len(run) >= self._quiet_keep:
                    self._run_counted += len(run.popleft()) // 2 * self._widen
                run.append(frame)
                return
        with self._lock:
            quiet = self._quiet_dbfs
            if level_dbfs < self._count_under and not speaking:
                self._silent_before = True  # the first one goes as any quiet frame
            else:
                self._silent_before = False
                if self._run:
                    self._end_run()
            if len(self._frames) >= self._max:
                self._frames.popleft()
                self.dropped += 1
            self._frames.append((frame, speaking))
            if quiet is None or level_dbfs >= quiet or len(self._frames) >= self.quiet_batch:
                self._ready.notify()

    @property
    def held_samples(self) -> int:
        """Engine samples of a silent run's frames kept, not yet handed over (16 kHz)."""
        with self._lock:
            return sum(len(frame) for frame in self._run) // 2 * self._widen

    def _end_run(self) -> None:
        """The silent run is over: its count, then its kept frames, join the queue."""
        if self._run_counted:
            self._frames.append(self._run_counted)
            self._run_counted = 0
        self._frames.extend((frame, False) for frame in self._run)
        self._run.clear()
        while len(self._frames) > self._max:
            self._frames.popleft()
            self.dropped += 1

    def get(self, timeout: float | None = None) -> tuple[bytes, bool] | None:
        """The next (frame, caller_is_speaking) pair, or None on timeout or once closed.

        A silent run counted while ``quiet_keep`` was set comes as one frame of zeros."""
        with self._ready:
            if not self._frames and not self.closed:
                self._ready.wait(timeout)
            item = self._frames.popleft() if self._frames else None
        if isinstance(item, int):
            self._skip()
            return as_frame(item)
        if item is None or self._upsampler is None:
            return item
        return self._upsampler.convert(item[0]), item[1]

    def get_batch(self, timeout: float | None = None) -> list[tuple[bytes, bool]]:
        """Every queued (frame, caller_is_speaking) pair, oldest first, in one wake-up.

        Waits like :meth:`get` (an empty list on timeout or once closed). A narrowband
        batch is upsampled in one pass: the same samples as frame by frame.
        """
        return [as_frame(item) for item in self._take(timeout, counted=False)]

    def get_counted(self, timeout: float | None = None) -> list[tuple[bytes, bool] | int]:
        """:meth:`get_batch` for a counting listener (``quiet_keep``): a run of silent
        frames comes as the number of 16 kHz samples it held (an int), followed, once the
        run is over, by its last ``quiet_keep`` frames; the frames still kept at the end of
        a run under way stay queued."""
        return self._take(timeout, counted=True)

    def _take(self, timeout: float | None, *,
              counted: bool) -> list[tuple[bytes, bool] | int]:
        with self._ready:
            if not self._frames and not self.closed and not self._woken:
                self._ready.wait(timeout)
            self._woken = False
            if not counted and self._run:
                self._end_run()
            elif self._run_counted:
                self._frames.append(self._run_counted)
                self._run_counted = 0
            items = list(self._frames)
            self._frames.clear()
        out: list[tuple[bytes, bool] | int] = []
        frames: list[tuple[bytes, bool]] = []
        for item in items:
            if isinstance(item, int):
                out.extend(self._convert(frames))
                frames = []
                self._skip()
                out.append(item)
            else:
                frames.append(item)
        out.extend(self._convert(frames))
        return out

    def _skip(self) -> None:
        """Frames were only counted: the filter starts again from silence (they were
        quieter than anything that could make the difference heard by a detector)."""
        if self._upsampler is not None:
            self._upsampler = Upsampler()

    def _convert(self, items: list[tuple[bytes, bool]]) -> list[tuple[bytes, bool]]:
        """Frames in the engine format, a narrowband batch upsampled in one pass."""
        if not items or self._upsampler is None:
            return items
        if len(items) == 1 or any(len(frame) % 2 for frame, _ in items):
            return [(self._upsampler.convert(frame), speaking) for frame, speaking in items]
        wide = self._upsampler.convert(b"".join(frame for frame, _ in items))
        out, start = [], 0
        for frame, speaking in items:
            end = start + len(frame) // 2 * 4
            out.append((wide[start:end], speaking))
            start = end
        return out

    def wake(self) -> None:
        """End the listener's wait in :meth:`get_batch` now (or its next one), frames or not:
        a listener that waits long (a silent caller) is told to look at its own stop flag."""
        with self._ready:
            self._woken = True
            self._ready.notify_all()

    def close(self) -> None:
        with self._ready:
            self.closed = True
            self._ready.notify_all()

    def __len__(self) -> int:
        return len(self._frames) + len(self._run)


@dataclass
class TapCounters:
    caller_frames: int = 0
    engine_frames: int = 0
    speech_starts: int = 0


class CallerAudioTap:
    """Fan-out point of one call's audio; every method is safe on the media clock.

    The caller's frames are examined only when something needs them: a subscriber
    (recogniser, voicemail, ``listen``), the recorder, or a prompt that the caller's voice
    may stop. Otherwise (a keys-only prompt, waiting for keys) the port drops each frame
    before copying it, and the energy detector does not run.
    """

    def __init__(self, player: PromptPlayer, vad_settings: VadSettings | None = None) -> None:
        self.player = player
        self.rate = player.rate  # the bridge's: the caller's frames come at this rate
        self.vad_settings = vad_settings
        self.vad = VoiceActivityDetector(vad_settings, sample_rate=self.rate)
        self._vad_idle = False  # the detector skipped the last frame: start it afresh
        self.counters = TapCounters()
        self.last_voice = threading.Event()  # set on each speech start (for waiters)
        self.energy_barge_in = True  # False: the IVR decides barge-in (speech.barge_in)
        self._subscribers: tuple[FrameQueue, ...] = ()
        self._recorder: StereoRecorder | None = None
        self._answerer: deque[bytes] = deque(maxlen=10)  # a bridged secretary's frames
        self._lock = threading.Lock()

    def subscribe(self, max_frames: int = 250) -> FrameQueue:
        frames = FrameQueue(max_frames, self.rate)
        with self._lock:
            self._subscribers = (*self._subscribers, frames)
        return frames

    def unsubscribe(self, frames: FrameQueue) -> None:
        with self._lock:
            self._subscribers = tuple(q for q in self._subscribers if q is not frames)
        frames.close()

    def wake_listeners(self) -> None:
        """End every subscriber's wait for a batch now (a key came: a listener that waits
        long for a silent caller's frames looks at the keys at once)."""
        for frames in self._subscribers:
            frames.wake()

    def close_all(self) -> None:
        with self._lock:
            subscribers, self._subscribers = self._subscribers, ()
        for frames in subscribers:
            frames.close()

    def attach_recorder(self, recorder: StereoRecorder | None) -> StereoRecorder | None:
        """Set the recorder (or None); returns the previous one."""
        with self._lock:
            previous, self._recorder = self._recorder, recorder
        return previous

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    def wants_caller_audio(self) -> bool:
        """Whether the next caller frame is needed at all (read on the media clock)."""
        return bool(self._subscribers) or self._recorder is not None or self.player.wants_speech

    def caller_frame(self, frame: bytes) -> None:
        self.counters.caller_frames += 1
        subscribers = self._subscribers
        if subscribers or self.player.wants_speech:
            if self._vad_idle:  # no stale "speaking" from before the pause
                self.vad = VoiceActivityDetector(self.vad_settings, sample_rate=self.rate)
                self._vad_idle = False
            event = self.vad.feed(frame)
            if event is VoiceEvent.SPEECH_STARTED:
                self.counters.speech_starts += 1
                if self.energy_barge_in:
                    self.player.interrupt(StopReason.SPEECH)
                self.last_voice.set()
        else:
            self._vad_idle = True
        speaking, level = self.vad.speaking, self.vad.level_dbfs
        for frames in subscribers:
            frames.put(frame, speaking, level)
        recorder = self._recorder
        if recorder is not None:
            recorder.caller_frame(frame)

    def answerer_frame(self, frame: bytes) -> None:
        """A frame of whoever the call is bridged to: recorded with the engine's side."""
        self._answerer.append(frame)

    def engine_frame(self) -> bytes:
        self.counters.engine_frames += 1
        frame = self.player.next_frame()
        theirs = self._answerer.popleft() if self._answerer else None
        recorder = self._recorder
        if recorder is not None:
            recorder.engine_frame(mix_frames(frame, theirs) if theirs else frame)
        return frame


class AnswererTap:
    """What a bridge port listening to the answerer (a secretary) feeds: the caller's tap's
    recording, on the engine's side; it sends nothing (silence)."""

    def __init__(self, tap: CallerAudioTap) -> None:
        self.tap = tap
        self.silent_frame = bytes(frame_bytes(tap.rate))

    def wants_caller_audio(self) -> bool:
        """The answerer's frames matter only while the call is recorded."""
        return self.tap.recording

    def caller_frame(self, frame: bytes) -> None:
        self.tap.answerer_frame(frame)

    def engine_frame(self) -> bytes:
        return self.silent_frame


def mix_frames(first: bytes, second: bytes) -> bytes:
    """Two 16-bit PCM frames summed (clipped): the engine's prompt and the answerer."""
    if not any(first):
        return second
    left, right = array.array("h", first), array.array("h", second)
    return array.array("h", [max(-32768, min(32767, a + b))
                             for a, b in zip(left, right, strict=False)]).tobytes()


def engine_audio_format(rate: int = SAMPLE_RATE) -> pj.MediaFormatAudio:
    """The format of a call's audio port: the bridge's rate, so the bridge resamples nothing."""
    fmt = pj.MediaFormatAudio()
    fmt.type = pj.PJMEDIA_TYPE_AUDIO
    fmt.clockRate = rate
    fmt.channelCount = 1
    fmt.bitsPerSample = 16
    fmt.frameTimeUsec = FRAME_MS * 1000
    return fmt


class CallAudioPort(pj.AudioMediaPort):
    """A bridge port carrying one call's audio at a time.

    Owned by :class:`telephony.port_pool.AudioPortPool` for the life of the process and
    reused from call to call: a port is never deleted while the media clock runs (see
    port_pool.py for why). Create, connect, attach and detach it on the SIP thread only;
    its callbacks run on the media clock thread and read ``tap`` once per frame.
    """

    def __init__(self, rate: int = SAMPLE_RATE) -> None:
        super().__init__()
        self.tap: CallerAudioTap | None = None  # the call it carries now (None: silence)
        self.errors = 0
        self.rate = rate
        self.frame_bytes = frame_bytes(rate)
        self.silent_frame = bytes(self.frame_bytes)

    def attach(self, tap: CallerAudioTap) -> None:
        self.tap = tap

    def detach(self) -> None:
        """Stop feeding the call: caller frames are dropped, the engine sends silence."""
        self.tap = None

    # An exception must never leave a director callback: it would end the process in C++.
    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        try:
            clock = CLOCK_THREAD
            if clock.wanted or clock.pinned is not None:
                clock.sync()
            tap = self.tap
            data = tap.engine_frame() if tap is not None else self.silent_frame
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            fill_vector(frame.buf, data)
            frame.size = len(data)
        except Exception:
            self.errors += 1

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        try:
            clock = CLOCK_THREAD
            if clock.wanted or clock.pinned is not None:
                clock.sync()
            tap = self.tap
            if tap is None or not tap.wants_caller_audio():
                return
            if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
                data = vector_bytes(frame.buf)  # copied now: the frame lives for this call only
                size = self.frame_bytes
                if len(data) != size:
                    data = data[:size].ljust(size, b"\0")
            else:
                data = self.silent_frame
            tap.caller_frame(data)
        except Exception:
            self.errors += 1
