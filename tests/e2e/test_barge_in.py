"""Barge-in on a call's channel: keys always cut a prompt; speech only with speech on, only
as the voice detector hears it, and never the prompt's own echo.

A thread stands in for the media clock: every frame (telephony.audio.FRAME_MS) it takes the
engine's frame (what the caller hears) and delivers the caller's frame, which may carry that
prompt back at -10 dB (80 ms later).
"""

from __future__ import annotations

import array
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import pytest

from ivr_flows.channel import Prompt
from ivr_flows.telephony_channel import TelephonyChannel
from speech.synthetic import frames, line_hiss, telephone_speech
from telephony.audio import FRAME_MS, SILENT_FRAME
from telephony.media import StopReason
from telephony.session import CallSession, PlayResult
from tests.e2e.test_speech_listener import new_session

pytestmark = pytest.mark.timeout(60)
ECHO_GAIN = 10 ** (-10 / 20)


class OnePrompt:
    def __init__(self, pcm: bytes) -> None:
        self.pcm = pcm

    def prompt(self, prompt_id: str, language: str, values: Mapping[str, Any] | None = None,
               *, practice: str | None = None) -> bytes:
        return self.pcm


class AnyListener:
    """Speech is on (the channel only checks there is a listener for barge-in)."""

    def listen(self, *args: Any, **kwargs: Any) -> str:
        return ""


@pytest.fixture(scope="module")
def greeting() -> bytes:
    return telephone_speech("Bonjour, vous êtes bien au cabinet médical du docteur Martin.",
                            voice="fr", lead=0.1, trail=0.2)


@pytest.fixture(scope="module")
def allo() -> bytes:
    return telephone_speech("allô, allô, oui bonjour", voice="fr", lead=0.6, trail=0.5)


def media_clock(session: CallSession, caller: bytes, *, echo_delay_frames: int = 0
                ) -> threading.Thread:
    """Run the call's clock: engine frames out, caller frames (and echo) in."""
    said = frames(caller + line_hiss(20.0, seed=3), FRAME_MS)
    sent: deque[bytes] = deque([SILENT_FRAME] * (echo_delay_frames + 1),
                               maxlen=echo_delay_frames + 1)

    def run() -> None:
        started = time.monotonic()
        for index, frame in enumerate(said):
            if session.ended:
                return
            sent.append(session.tap.engine_frame())
            heard = frame
            if echo_delay_frames:
                heard = _add(frame, sent[0], ECHO_GAIN)
            session.tap.caller_frame(heard)
            pause = started + (index + 1) * FRAME_MS / 1000 - time.monotonic()
            if pause > 0:
                time.sleep(pause)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _add(frame: bytes, echo: bytes, gain: float) -> bytes:
    a, b = array.array("h"), array.array("h")
    a.frombytes(frame)
    b.frombytes(echo[: len(frame)].ljust(len(frame), b"\0"))
    return array.array("h", (max(-32768, min(32767, round(x + y * gain)))
                             for x, y in zip(a, b, strict=True))).tobytes()


def say_greeting(greeting: bytes, caller: bytes, *, speech: bool, echo: bool = False
                 ) -> PlayResult:
    session = new_session()
    channel = TelephonyChannel(session, OnePrompt(greeting),  # type: ignore[arg-type]
                               speech=AnyListener() if speech else None)
    results: list[PlayResult] = []
    play = session.play

    def spy(*args: Any, **kwargs: Any) -> PlayResult:
        results.append(play(*args, **kwargs))
        return results[-1]

    session.play = spy  # type: ignore[method-assign]
    clock = media_clock(session, caller, echo_delay_frames=2 if echo else 0)
    channel.say([Prompt("greeting")], "fr")
    session.mark_ended("test over")
    clock.join(5)
    return results[0]


def test_allo_during_the_greeting_with_speech_off_does_not_cut_it(greeting, allo) -> None:
    played = say_greeting(greeting, allo, speech=False)
    assert played.reason is StopReason.FINISHED


def test_a_key_still_cuts_the_greeting_with_speech_off(greeting) -> None:
    session = new_session()
    channel = TelephonyChannel(session, OnePrompt(greeting), speech=None)  # type: ignore[arg-type]
    clock = media_clock(session, b"")
    threading.Timer(0.5, session.dtmf, args=("1",)).start()
    started = time.monotonic()
    channel.say([Prompt("greeting")], "fr")
    assert time.monotonic() - started < 2.0
    assert session.digits.pending()
    session.mark_ended("test over")
    clock.join(5)


def test_the_caller_speaking_cuts_the_greeting_with_speech_on(greeting, allo) -> None:
    played = say_greeting(greeting, allo, speech=True)
    assert played.reason is StopReason.SPEECH
    assert played.played_ms < len(greeting) * 1000 // 32_000 - 500  # cut, not finished


def test_the_greetings_own_echo_does_not_cut_it(greeting) -> None:
    played = say_greeting(greeting, b"", speech=True, echo=True)
    assert played.reason is StopReason.FINISHED
