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
from collections.abc import Callable, Iterator, Mapping, Sequence
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
from telephony.audio import BYTES_PER_SECOND
from telephony.recording import RecordingSink
from telephony.session import CallEnded, CallSession

log = logging.getLogger(__name__)

DIALLABLE = ("sip:", "sips:", "tel:")  # what a transfer target must look like to be rung
END_OF_MESSAGE_SILENCE = 3.0  # seconds of silence after speech that end a message
NOTHING_SAID_TIMEOUT = 6.0  # seconds of silence before any speech: no message


class SpeechListener(Protocol):
    """Turns what the caller says next into text (the empty string when nothing was said)."""

    def listen(self, session: CallSession, language: str, timeout: float) -> str: ...


class StreamingSpeech:
    """A :class:`SpeechListener` over ``speech.recognizer.SpeechEngine``.

    The caller's frames are fed as they arrive; a key pressed meanwhile cancels the
    utterance (keys win). A refused stream (engine saturated, no model for the language)
    is heard as silence, so the question falls back to keys.
    """

    def __init__(self, engine: Any, *, result_timeout: float = 5.0) -> None:
        self.engine = engine
        self.result_timeout = result_timeout

    def listen(self, session: CallSession, language: str, timeout: float) -> str:
        limits = dataclasses.replace(self.engine.limits, silence_timeout=timeout)
        stream = self.engine.start_utterance(language, limits=limits)
        if not hasattr(stream, "feed"):
            return ""  # StreamRefused: keys only for this question
        try:
            with session.audio_frames(max_frames=250) as frames:
                while not stream.done:
                    if session.digits.pending():
                        stream.cancel()
                        return ""
                    item = frames.get(0.1)
                    if session.ended:
                        stream.cancel()
                        return ""
                    if item is not None and not stream.feed(item[0]):
                        break
                stream.end_input()
            return stream.result(self.result_timeout).text
        except CallEnded:
            stream.cancel()
            return ""
        except Exception as exc:  # broken recognizer: this question falls back to keys
            stream.cancel()
            log.warning("call %s: speech recognition failed (%s); keys only for this question",
                        session.call_id, exc.__class__.__name__)
            return ""


class PromptAudio(Protocol):
    """The audio of a catalogue prompt (``ivr_flows.prompts.compose.PromptComposer``)."""

    def prompt(self, prompt_id: str, language: str, values: Mapping[str, Any] | None = None,
               *, practice: str | None = None) -> bytes: ...


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
        self.call_id = session.call_id
        self.caller_number = session.caller or None
        self.dialled_number = session.dialled or None

    _language = "fr"  # the language of the last prompt said: the one to recognise

    @property
    def hears_speech(self) -> bool:
        return self.speech is not None

    def say(self, parts: Sequence[Prompt], language: str, *, barge_in: bool = True) -> Utterance:
        self._language = language
        with _call_alive():
            for part in parts:
                audio = self.prompts.prompt(part.id, language, part.values,
                                            practice=self.practice_slug)
                self.session.play(audio, barge_in=barge_in)
                if barge_in and self.session.digits.pending():
                    break  # the keys stay buffered for the next listen
        return SILENCE

    def listen(self, *, timeout: float, max_keys: int = 1, terminator: str | None = None,
               speech: bool = True) -> Utterance:
        with _call_alive():
            if self.speech is None or not speech or self.session.digits.pending():
                return self._keys(timeout, max_keys, terminator)
            return self._keys_or_speech(timeout, max_keys, terminator)

    def _keys(self, timeout: float, max_keys: int, terminator: str | None) -> Utterance:
        got = self.session.collect_digits(max_keys, timeout, terminator,
                                          inter_digit_timeout=3.0)
        end = terminator if got.terminated and terminator else ""
        return Utterance(keys=got.digits + end)

    def _keys_or_speech(self, timeout: float, max_keys: int, terminator: str | None
                        ) -> Utterance:
        heard: list[str] = []
        assert self.speech is not None
        worker = threading.Thread(
            target=lambda: heard.append(self.speech.listen(self.session, self._language,
                                                           timeout)),
            name=f"listen-{self.call_id[:8]}", daemon=True)
        worker.start()
        deadline = time.monotonic() + timeout + 15.0  # an utterance may run past the timeout
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
        first to answer is bridged (a hunt). With ``method="refer"`` the caller's side is
        asked to call the (first) address itself and the call leaves Telesec.
        A name with no address behind it (``secretaries`` when the practice gave none)
        rings nobody: the escalation is published and the flow goes on (a message).
        """
        address = self.transfer_targets.get(target, target)
        if self.publish_context is not None:
            self.publish_context({**context, "priority": priority})
        addresses = [a.strip() for a in address.split(",")
                     if a.strip().lower().startswith(DIALLABLE)]
        if not addresses:
            log.info("call %s: no secretary address to ring; the caller is offered a message",
                     self.call_id)
            return False
        with _call_alive():
            if method == "refer":
                referred = self.session.transfer(addresses[0], timeout=self.ring_seconds + 10)
                if referred.ok and self.on_answered is not None:
                    self.on_answered(addresses[0])
                return referred.ok
            result = self.session.bridge(addresses, ring_seconds=self.ring_seconds)
            if result.ok and self.on_answered is not None:
                self.on_answered(result.answered_by)
            # Once bridged, the call belongs to the secretary: the flow (and so the
            # handler, whose return hangs up) waits until either side hangs up.
            while result.ok and self.session.bridged_to and not self.session.ended:
                self.session.wait_ended(0.5)
        return result.ok

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
