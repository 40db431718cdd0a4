"""The caller channel of a real call: ``telephony.session.CallSession`` plus prompt audio.

Written against docs/call-interface.md. Speech recognition comes in through a
:class:`SpeechListener` (keys always work without one). ``CallEnded`` from the session
becomes :class:`ivr_flows.channel.CallerHungUp`. Voicemail audio goes from the caller's
frames straight into the sink; the only copy kept for "listen again" is in memory.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol

from ivr_flows.channel import (
    SILENCE,
    CallerChannel,
    CallerHungUp,
    MessageSink,
    Prompt,
    RecordedMessage,
    Utterance,
)
from ivr_flows.prompts.wording import as_text, say_value
from speech.barge_in import BargeInDetector
from speech.turns import SILENCE_FED_MS, Satisfied, TurnSettings, TurnTaker
from speech.vad import VadSettings, VoiceDetector, load_silero, voice_detector
from telephony.audio import BYTES_PER_SECOND, FRAME_MS, SAMPLE_RATE, hold_music, load_prompt
from telephony.media import FrameQueue, StopReason, as_frame
from telephony.recording import RecordingSink
from telephony.session import BridgeResult, CallEnded, CallSession

log = logging.getLogger(__name__)

DIALLABLE = ("sip:", "sips:", "tel:")  # what a transfer target must look like to be rung
RING_AGAIN = 1  # times the desk rings again when the answerer's leg is lost (page reloaded)
END_OF_MESSAGE_SILENCE = 3.0  # seconds of silence after speech that end a message
NOTHING_SAID_TIMEOUT = 6.0  # seconds of silence before any speech: no message
PREROLL_MS = 600  # audio before the detector's start of speech given to the recognizer
PREROLL_FRAMES = PREROLL_MS // FRAME_MS + 1  # kept of a silent run: the pre-roll and one
BARGE_IN_KEEP = 3  # a silent caller's last frames kept for the echo guard (3 x 40 ms)
READY_PROMPTS = 8  # prompts composed ahead kept per call (memory only)
READY_WAIT = 5.0  # seconds say() waits for a prompt still being composed ahead

# Composes prompts ahead for every call of the process: two threads, so a slow synthesis
# (a name) never holds the others for long; the work is small next to decoding.
_ahead = ThreadPoolExecutor(max_workers=2, thread_name_prefix="prompt-ahead")


@dataclasses.dataclass(frozen=True, slots=True)
class Hunt:
    """Ring one address after another (a hunt), ``seconds`` each, then ``then`` together."""

    addresses: tuple[str, ...]
    seconds: float
    then: tuple[str, ...] = ()



class SpeechListener(Protocol):
    """Turns what the caller says next into text (the empty string when nothing was said)."""

    def listen(self, session: CallSession, language: str, timeout: float, *,
               turn: TurnSettings | None = None, satisfied: Satisfied | None = None,
               phrases: Sequence[str] | None = None) -> str: ...


class StreamingSpeech:
    """A :class:`SpeechListener` over ``speech.recognizer.SpeechEngine``.

    The caller's frames are fed as they arrive through a :class:`speech.turns.TurnTaker`:
    at the end of speech heard by the voice detector the recognizer is finalized at once.
    A key pressed meanwhile cancels the utterance (keys win). A refused stream (engine
    saturated, no model for the language) is heard as silence: the question falls back to keys.
    """

    def __init__(self, engine: Any, *, result_timeout: float = 20.0,
                 silence_fed_ms: int | None = SILENCE_FED_MS,
                 vad: VadSettings | None = None) -> None:
        self.engine = engine
        self.result_timeout = result_timeout
        self.vad = vad or VadSettings()  # the detector's settings; each turn sets end_ms
        self.silence_fed_ms = silence_fed_ms  # see speech.turns (None: all of a silence)
        load_silero()  # at start: says in one line if the detector falls back to energy

    def listen(self, session: CallSession, language: str, timeout: float, *,
               turn: TurnSettings | None = None, satisfied: Satisfied | None = None,
               phrases: Sequence[str] | None = None) -> str:
        """What the caller says next; the turn ends when the voice detector hears its end
        (``turn``: how long a silence; ``satisfied``: a closed question already answered;
        ``phrases``: a grammar for a closed question, see docs/speech.md).

        The recognizer starts only when the detector hears speech, with the last
        ``PREROLL_MS`` of audio before it: the decoder never spends time on the silence
        before an answer, so it is not behind when the answer ends.
        """
        settings = turn or TurnSettings()
        detector = voice_detector(dataclasses.replace(self.vad, end_ms=settings.end_ms))
        stream: Any = None
        try:
            with session.audio_frames(max_frames=250) as frames:
                start = self._speech_start(session, frames, detector, timeout)
                if start is None:
                    return ""
                preroll, after = start
                limits = dataclasses.replace(self.engine.limits, vosk_endpoint=False,
                                             silence_timeout=max(timeout, 1.0))
                stream = self.engine.start_utterance(
                    language, phrases=list(phrases) if phrases else None, limits=limits)
                if not hasattr(stream, "feed"):
                    return ""  # StreamRefused: keys only for this question
                taker = TurnTaker(stream, settings=settings, satisfied=satisfied,
                                  detector=detector, silence_fed_ms=self.silence_fed_ms)
                taker.heard = True
                for frame in preroll:  # the detector has heard these already
                    stream.feed(frame)
                while not stream.done:
                    if session.digits.pending():
                        stream.cancel()
                        return ""
                    item = after.popleft() if after else frames.get(0.1)
                    if session.ended:
                        stream.cancel()
                        return ""
                    if item is not None and taker.feed(item[0]):
                        break
                stream.end_input()
            return stream.result(self.result_timeout).text
        except CallEnded:
            if stream is not None and hasattr(stream, "cancel"):
                stream.cancel()
            return ""
        except Exception as exc:  # broken recognizer: this question falls back to keys
            if stream is not None and hasattr(stream, "cancel"):
                stream.cancel()
            log.warning("call %s: speech recognition failed (%s); keys only for this question",
                        session.call_id, exc.__class__.__name__)
            return ""

    @staticmethod
    def _speech_start(
        session: CallSession, frames: FrameQueue, detector: VoiceDetector, timeout: float,
    ) -> tuple[list[bytes], deque[tuple[bytes, bool]]] | None:
        """Frames up to the detector's start of speech (the last ``PREROLL_MS`` of them) and
        the frames taken after it, or None: a key, the call's end, or ``timeout`` seconds of
        audio without speech.

        A silent caller's frames are only counted meanwhile (``FrameQueue.get_counted``):
        the last ``PREROLL_MS`` before louder audio are kept, for the recognizer, and the
        wait wakes once a second, or at once for a louder frame, a key or the call's end.
        """
        preroll: deque[bytes] = deque()
        kept = 0  # bytes in preroll
        keep = PREROLL_MS * BYTES_PER_SECOND // 1000
        heard_ms = 0.0
        waited = time.monotonic() + timeout + 20.0  # wall limit, if frames stop coming
        frames.quiet_dbfs = detector.settings.floor_dbfs
        frames.quiet_keep = PREROLL_FRAMES
        try:
            while time.monotonic() < waited:
                if session.digits.pending() or session.ended:
                    return None
                # the silent frames held back count as heard: the timeout is in audio time
                left_ms = timeout * 1000 - heard_ms - frames.held_samples * 1000 / SAMPLE_RATE
                if left_ms <= 0:
                    return None
                # a key (CallerAudioTap.wake_listeners) or the call's end ends the wait
                batch = deque(frames.get_counted(min(1.0, left_ms / 1000 + 0.01)))
                while batch and heard_ms < timeout * 1000:
                    item = batch.popleft()
                    if isinstance(item, int):  # a silent run: older than any pre-roll
                        preroll.clear()
                        kept = 0
                        heard_ms += item * 1000 / SAMPLE_RATE
                        detector.skip(item)
                        continue
                    frame = item[0]
                    preroll.append(frame)
                    kept += len(frame)
                    while kept - len(preroll[0]) >= keep:
                        kept -= len(preroll.popleft())
                    heard_ms += len(frame) * 1000 / BYTES_PER_SECOND
                    detector.feed(frame)
                    if detector.speaking:
                        # (a run counted since: silence)
                        return list(preroll), deque(as_frame(item) for item in batch)
            return None
        finally:  # from here on every frame is handed over, one by one
            frames.quiet_dbfs = None
            frames.quiet_keep = 0


class PromptAudio(Protocol):
    """The audio of a catalogue prompt (``ivr_flows.prompts.compose.PromptComposer``)."""

    def prompt(self, prompt_id: str, language: str, values: Mapping[str, Any] | None = None,
               *, practice: str | None = None) -> bytes: ...


def _prompt_key(part: Prompt, language: str) -> tuple:
    """What makes two prompts sound the same: id, language and each value as said."""
    values = tuple(sorted((name, as_text(say_value(value, language), language))
                          for name, value in (part.values or {}).items()))
    return part.id, language, values


@contextmanager
def _call_alive() -> Iterator[None]:
    try:
        yield
    except CallEnded:
        raise CallerHungUp from None


class TelephonyChannel(CallerChannel):
    """One answered call, driven by the flow interpreter from an ordinary thread."""

    def __init__(
        self,
        session: CallSession,
        prompts: PromptAudio,
        *,
        practice_slug: str | None = None,
        speech: SpeechListener | None = None,
        recording_sinks: Callable[[], RecordingSink | None] | None = None,
        transfer_targets: Mapping[str, str] | None = None,
        publish_context: Callable[[Mapping[str, Any]], None] | None = None,
        ring_seconds: float = 20.0,
        on_answered: Callable[[str], None] | None = None,
        hunts: Mapping[str, Hunt] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.session = session
        self.prompts = prompts
        self.practice_slug = practice_slug
        self.speech = speech
        self.recording_sinks = recording_sinks
        self.transfer_targets = dict(transfer_targets or {})
        self.publish_context = publish_context
        self.ring_seconds = ring_seconds
        self.on_answered = on_answered
        self.hunts = dict(hunts or {})  # a name rung as a hunt instead of all at once
        self.on_lost = on_lost  # the answerer's leg was lost: her card goes back to waiting
        self._voicemail_for = ""
        self._ready: OrderedDict[tuple, Future[bytes]] = OrderedDict()
        self._ready_lock = threading.Lock()
        self.call_id = session.call_id
        self.caller_number = session.caller or None
        self.dialled_number = session.dialled or None
        session.tap.energy_barge_in = False  # barge-in is decided here (see _play)

    _language = "fr"  # the language of the last prompt said: the one to recognise

    @property
    def hears_speech(self) -> bool:
        return self.speech is not None

    def prepare(self, parts: Sequence[Prompt], language: str) -> None:
        """Compose ``parts`` in the background now, so that saying one of them later starts
        at once (names are synthesised, dates assembled from cached words, ahead of time)."""
        for part in parts:
            key = _prompt_key(part, language)
            with self._ready_lock:
                if key in self._ready:
                    continue
                self._ready[key] = _ahead.submit(self.prompts.prompt, part.id, language,
                                                 part.values, practice=self.practice_slug)
                while len(self._ready) > READY_PROMPTS:
                    self._ready.popitem(last=False)[1].cancel()

    def forget_prepared(self) -> None:
        """Drop the prompts composed ahead (they are only ever kept in memory)."""
        with self._ready_lock:
            for future in self._ready.values():
                future.cancel()
            self._ready.clear()

    def _audio(self, part: Prompt, language: str) -> bytes:
        """The prompt's audio: composed ahead if :meth:`prepare` was asked for it, else now."""
        with self._ready_lock:
            ready = self._ready.get(_prompt_key(part, language))
        if ready is not None and not ready.cancelled():
            try:
                return ready.result(READY_WAIT)
            except Exception as exc:  # composed again below, where the error is raised
                log.debug("call %s: prompt composed ahead failed (%s)", self.call_id,
                          exc.__class__.__name__)
        return self.prompts.prompt(part.id, language, part.values, practice=self.practice_slug)

    def say(self, parts: Sequence[Prompt], language: str, *, barge_in: bool = True) -> Utterance:
        self._language = language
        with _call_alive():
            for part in parts:
                audio = self._audio(part, language)
                stopped = self._play(load_prompt(audio), barge_in)
                if barge_in and (self.session.digits.pending() or stopped):
                    break  # the keys stay buffered for the next listen
        return SILENCE

    def _play(self, pcm: bytes, barge_in: bool) -> bool:
        """Play one prompt; True if the caller's speech cut it.

        Keys cut a barge-in prompt. Speech does only when speech is on, and only as
        :class:`speech.barge_in.BargeInDetector` hears it (Silero, the prompt's echo taken
        out, a minimum of voiced audio): with speech off, "allô" does not cut the greeting.
        """
        if not barge_in or self.speech is None:
            # keys only: the caller's frames are not even examined meanwhile
            played = self.session.play(pcm, barge_in=barge_in, speech_barge_in=False)
            return played.reason is StopReason.SPEECH
        done = threading.Event()
        with self.session.audio_frames(max_frames=100) as frames:
            # a caller saying nothing need not wake the watcher frame by frame: only speech
            # (a frame above the detector's floor) is needed at once
            frames.quiet_dbfs = VadSettings().floor_dbfs
            # and a silent one's frames are only counted: the last 3 (120 ms) are kept, the
            # echo guard's block (100 ms) before a louder frame (FrameQueue.get_counted)
            frames.quiet_keep = BARGE_IN_KEEP
            watcher = threading.Thread(target=self._watch_barge_in, args=(frames, pcm, done),
                                       name=f"barge-{self.call_id[:8]}", daemon=True)
            watcher.start()
            try:
                # the watcher, not the tap's energy detector, decides (speech.barge_in)
                played = self.session.play(pcm, barge_in=True)
            finally:
                done.set()
                frames.wake()  # the watcher may be waiting for a batch: not for its timeout
                watcher.join(2.0)
        return played.reason is StopReason.SPEECH

    def _watch_barge_in(self, frames: FrameQueue, pcm: bytes, done: threading.Event) -> None:
        try:
            detector = BargeInDetector(pcm)
            while not done.is_set() and not frames.closed:
                # every queued frame in one wake-up; a silent run costs one detector pass
                # done wakes it (FrameQueue.wake): the timeout is only a safety net
                batch = frames.get_counted(1.0)
                if batch and detector.feed_many(
                        [item if isinstance(item, int) else item[0] for item in batch]):
                    self.session.player.interrupt(StopReason.SPEECH)
                    return
        except Exception as exc:  # never let a broken detector stop the prompt
            log.warning("call %s: barge-in detection failed (%s)", self.call_id,
                        exc.__class__.__name__)

    def listen(self, *, timeout: float, max_keys: int = 1, terminator: str | None = None,
               speech: bool = True, turn: TurnSettings | None = None,
               satisfied: Satisfied | None = None,
               phrases: Sequence[str] | None = None) -> Utterance:
        with _call_alive():
            if self.speech is None or not speech or self.session.digits.pending():
                return self._keys(timeout, max_keys, terminator)
            return self._keys_or_speech(timeout, max_keys, terminator, turn, satisfied,
                                        phrases)

    def _keys(self, timeout: float, max_keys: int, terminator: str | None) -> Utterance:
        got = self.session.collect_digits(max_keys, timeout, terminator,
                                          inter_digit_timeout=3.0)
        end = terminator if got.terminated and terminator else ""
        return Utterance(keys=got.digits + end)

    def _keys_or_speech(self, timeout: float, max_keys: int, terminator: str | None,
                        turn: TurnSettings | None, satisfied: Satisfied | None,
                        phrases: Sequence[str] | None) -> Utterance:
        heard: list[str] = []
        assert self.speech is not None
        speech = self.speech
        options: dict[str, Any] = {"turn": turn, "satisfied": satisfied}
        if phrases:
            options["phrases"] = phrases
        worker = threading.Thread(
            target=lambda: heard.append(speech.listen(
                self.session, self._language, timeout, **options)),
            name=f"listen-{self.call_id[:8]}", daemon=True)
        worker.start()
        deadline = time.monotonic() + timeout + 25.0  # decoding may lag behind a busy machine
        while worker.is_alive() and time.monotonic() < deadline:
            if self.session.digits.pending():
                return self._keys(timeout, max_keys, terminator)
            worker.join(0.05)
            self._alive()
        if self.session.digits.pending():  # the listener stopped because a key came
            return self._keys(timeout, max_keys, terminator)
        return Utterance(text=heard[0] if heard else "")

    def _alive(self) -> None:
        if self.session.ended:
            raise CallEnded(self.session.end_reason or "call ended")

    def record_message(self, sink: MessageSink, *, max_seconds: float) -> RecordedMessage:
        kept = bytearray()
        spoken = silent_after = 0.0
        hung_up = False
        try:
            self.session.flush_digits()
            with self.session.audio_frames(max_frames=500) as frames:
                started = time.monotonic()
                while time.monotonic() - started < max_seconds:
                    if self.session.digits.pending():
                        break  # '#' (or any key) ends the message
                    item = frames.get(0.2)
                    self._alive()
                    if item is None:
                        continue
                    frame, speaking = item
                    frame_seconds = len(frame) / BYTES_PER_SECOND
                    sink.append(frame)
                    kept.extend(frame)
                    if speaking:
                        spoken += frame_seconds
                        silent_after = 0.0
                    else:
                        silent_after += frame_seconds
                    if spoken and silent_after >= END_OF_MESSAGE_SILENCE:
                        break
                    if not spoken and silent_after >= NOTHING_SAID_TIMEOUT:
                        break
            self.session.flush_digits()
        except CallEnded:
            hung_up = True
        seconds = len(kept) / BYTES_PER_SECOND if spoken else 0.0
        return RecordedMessage(seconds, bytes(kept), caller_hung_up=hung_up)

    def play_message(self, message: RecordedMessage) -> None:
        with _call_alive():
            if message.handle:
                self.session.play(message.handle, barge_in=True)

    def transfer(self, target: str, *, context: Mapping[str, Any], priority: bool = False,
                 method: str = "bridge") -> bool:
        """Put the call on the secretaries' queue, then ring ``target`` if it is an address.

        ``target`` may list several addresses (comma-separated): they ring at once and the
        first to answer is bridged; a name in ``hunts`` rings its addresses one after
        another instead. If the answerer's leg is lost (her page reloaded: no BYE, her
        audio stops), the caller is told someone is coming back and the same addresses
        ring again once, with hold music; nobody then: False (a message). With
        ``method="refer"`` the caller's side is asked to call the (first) address itself
        and the call leaves Telesec.
        A name with no address behind it (``secretaries`` when the practice gave none)
        rings nobody: the escalation is published and the flow goes on (a message).
        """
        address = self.transfer_targets.get(target, target)
        if self.publish_context is not None:
            self.publish_context({**context, "priority": priority})
        addresses = [a.strip() for a in address.split(",")
                     if a.strip().lower().startswith(DIALLABLE)]
        hunt = self.hunts.get(target) if method == "bridge" else None
        if not addresses and hunt is None:
            log.info("call %s: no secretary address to ring; the caller is offered a message",
                     self.call_id)
            return False
        with _call_alive():
            if method == "refer":
                referred = self.session.transfer(addresses[0], timeout=self.ring_seconds + 10)
                if referred.ok and self.on_answered is not None:
                    self.on_answered(addresses[0])
                return referred.ok
            rounds = self._rounds(addresses, hunt)
            for attempt in range(RING_AGAIN + 1):
                if attempt:  # her page went away mid-call: the caller waits, the desk rings
                    if self.on_lost is not None:
                        self.on_lost()
                    self.say([Prompt("transfer_reconnect")], self._language, barge_in=False)
                self.session.bridge_left = ""
                result = self._ring(rounds, music=bool(attempt))
                if not result.ok:
                    return False
                if self.on_answered is not None:
                    self.on_answered(result.answered_by)
                # Once bridged, the call belongs to the secretary: the flow (and so the
                # handler, whose return hangs up) waits until either side hangs up.
                while self.session.bridged_to and not self.session.ended:
                    self.session.wait_ended(0.5)
                if self.session.ended:
                    return True
                if self.session.bridge_left == "voicemail":
                    self._voicemail_for = self.session.voicemail_for
                if self.session.bridge_left != "lost":
                    return True
            return False

    def _rounds(self, addresses: list[str], hunt: Hunt | None) -> list[tuple[list[str], float]]:
        """What rings, in turn: everyone at once, or a hunt's pages one by one (then the
        practice's line, if any)."""
        if hunt is None:
            return [(addresses, self.ring_seconds)]
        rounds = [([a], hunt.seconds) for a in hunt.addresses]
        if hunt.then:
            rounds.append((list(hunt.then), self.ring_seconds))
        return rounds

    def _ring(self, rounds: list[tuple[list[str], float]], *, music: bool) -> BridgeResult:
        """Ring each round until one answers (hold music meanwhile when ``music``)."""
        result = BridgeResult(False, 0, "nobody to ring")
        for targets, seconds in rounds:
            result = self.session.bridge(targets, ring_seconds=seconds,
                                         hold_audio=hold_music() if music else None)
            if result.ok:
                break
        return result

    def voicemail_requested(self) -> str | None:
        """The doctor (slug) whose box the secretary passed the caller on to, if she did."""
        chosen, self._voicemail_for = self._voicemail_for, ""
        return chosen or None

    def set_recording(self, on: bool) -> None:
        if not on:
            self.session.stop_recording()
            return
        if self.recording_sinks is None or self.session.recording:
            return
        with _call_alive():
            self._alive()
            sink = self.recording_sinks()
            if sink is None:  # no recording possible now (database down): the call goes on
                return
            try:
                self.session.start_recording(sink)
            except BaseException:
                sink.abort()
                raise

    def hangup(self) -> None:
        self.session.hangup()
