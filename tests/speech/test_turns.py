"""End of turn: the voice detector ends the answer, the recognizer is finalized at once.

Real audio (espeak-ng Korean through the telephone band) and the real Silero model; the
stream is a stand-in recording what it is fed (the decision is the detector's), except in
the last test, which decodes with the Korean Vosk model.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from speech.grammar import FREE
from speech.models import LoadedModel
from speech.recognizer import EndReason, SpeechEngine, UtteranceLimits, UtteranceStream
from speech.synthetic import BYTES_PER_SECOND, frames, line_hiss, words_only
from speech.turns import SILENCE_FED_MS, TurnSettings, TurnTaker

FRAME = 0.02


class RecordingStream:
    """Takes frames like an utterance stream; its partial is what ``partial_at`` says."""

    def __init__(self, partial_at: Callable[[float], str] = lambda at: "") -> None:
        self.fed = 0
        self.ended_at_frame: int | None = None
        self.partial_at = partial_at

        self.audio = bytearray()

    def feed(self, frame: bytes) -> bool:
        if self.ended_at_frame is not None:
            return False
        self.fed += 1
        self.audio += frame
        return True

    def end_input(self) -> None:
        self.ended_at_frame = self.fed

    @property
    def partial(self) -> str:
        return self.partial_at(self.fed * FRAME)


@pytest.fixture(scope="module")
def halves() -> tuple[bytes, bytes]:
    return words_only("다음 주 화요일"), words_only("오후 세 시에 가능합니다")


def seconds(pcm: bytes) -> float:
    return len(pcm) / BYTES_PER_SECOND


def take_turn(taker: TurnTaker, pcm: bytes) -> float | None:
    """Feed ``pcm`` then 3 s of line; the audio time at which the turn ended."""
    for index, frame in enumerate(frames(pcm + line_hiss(3.0, seed=7))):
        if taker.feed(frame):
            return (index + 1) * FRAME
    return None


def test_a_pause_in_the_middle_of_an_answer_does_not_end_it(halves) -> None:
    first, second = halves
    lead = line_hiss(0.5)
    answer = lead + first + line_hiss(0.3, seed=2) + second
    stream = RecordingStream()
    taker = TurnTaker(stream, settings=TurnSettings(end_ms=700))
    ended = take_turn(taker, answer)
    assert ended is not None and taker.reason == "end_of_speech"
    speech_end = seconds(answer)
    assert speech_end + 0.6 <= ended <= speech_end + 1.0
    assert stream.ended_at_frame == stream.fed  # finalized at once: nothing fed after


def test_the_recognizer_hears_only_the_start_of_a_trailing_silence(halves) -> None:
    first, _ = halves
    answer = line_hiss(0.5) + first
    stream = RecordingStream()
    taker = TurnTaker(stream, settings=TurnSettings(end_ms=700))
    ended = take_turn(taker, answer)
    assert ended is not None and taker.reason == "end_of_speech"
    fed_until = stream.fed * FRAME
    # the detector hears the end a little after the last sample; then 200 ms are fed
    assert seconds(answer) < fed_until <= seconds(answer) + SILENCE_FED_MS / 1000 + 0.2
    assert ended - fed_until >= 0.4  # the other ~500 ms of silence were never decoded
    assert bytes(stream.audio) == (answer + line_hiss(3.0, seed=7))[: len(stream.audio)]


def test_a_closed_question_is_fed_its_trailing_silence(halves) -> None:
    first, _ = halves
    answer = line_hiss(0.5) + first
    stream = RecordingStream()  # a partial that never answers: the turn waits end_ms
    taker = TurnTaker(stream, settings=TurnSettings(end_ms=700, closed_end_ms=200),
                      satisfied=lambda partial: False)
    ended = take_turn(taker, answer)
    assert ended is not None and taker.reason == "end_of_speech"
    assert stream.fed * FRAME >= ended - FRAME  # every frame up to the end


def test_a_long_pause_inside_an_answer_reaches_the_recognizer_whole(halves) -> None:
    first, second = halves
    pause = line_hiss(0.5, seed=2)  # longer than the fed silence, shorter than the turn's end
    answer = line_hiss(0.5) + first + pause + second
    stream = RecordingStream()
    taker = TurnTaker(stream, settings=TurnSettings(end_ms=700))
    ended = take_turn(taker, answer)
    assert ended is not None and ended > seconds(answer)
    # every sample up to the end of the answer was fed, once and in order
    assert len(stream.audio) >= len(answer)
    assert bytes(stream.audio[: len(answer)]) == answer


def test_a_closed_question_answered_ends_after_a_short_silence(halves) -> None:
    first, _ = halves
    answer = line_hiss(0.5) + first
    speech_end = seconds(answer)
    stream = RecordingStream(lambda at: "네" if at >= speech_end - 0.2 else "")
    taker = TurnTaker(stream, settings=TurnSettings(end_ms=700, closed_end_ms=250),
                      satisfied=lambda partial: partial == "네")
    ended = take_turn(taker, answer)
    assert taker.reason == "answered"
    assert ended is not None and speech_end + 0.2 <= ended <= speech_end + 0.5


def test_a_closed_question_not_yet_answered_waits_through_a_pause(halves) -> None:
    first, second = halves
    answer = line_hiss(0.5) + first + line_hiss(0.3, seed=2) + second
    speech_end = seconds(answer)
    # a birth date: only complete once the second half is heard
    full, started = "천구백 팔십오년 삼월 이일", "천구백"
    stream = RecordingStream(lambda at: full if at > speech_end else started)
    taker = TurnTaker(stream, settings=TurnSettings(end_ms=700, closed_end_ms=250),
                      satisfied=lambda partial: partial.endswith("이일"))
    ended = take_turn(taker, answer)
    assert ended is not None and ended > speech_end
    assert taker.reason == "answered"


def test_silence_alone_never_ends_a_turn() -> None:
    stream = RecordingStream()
    assert take_turn(TurnTaker(stream), line_hiss(2.0)) is None
    assert stream.ended_at_frame is None


def test_bad_turn_settings_are_told_in_words() -> None:
    assert TurnSettings().check() == []
    assert TurnSettings(end_ms=100).check()[0].startswith("end_ms must be between")
    assert "closed_end_ms" in TurnSettings(end_ms=500, closed_end_ms=600).check()[0]


@pytest.mark.timeout(120)
def test_vosk_segments_are_joined_and_finalized_at_the_end_of_speech(
    halves, engine: SpeechEngine
) -> None:
    first, second = halves
    lead, pause = line_hiss(0.4), line_hiss(0.6, seed=2)  # long enough for Vosk's endpoint
    answer = lead + first + pause + second
    second_starts = seconds(lead + first + pause)
    stream = engine.start_utterance(
        "ko", limits=UtteranceLimits(vosk_endpoint=False, queue_seconds=30)
    )
    taker = TurnTaker(stream, settings=TurnSettings(end_ms=1000))
    assert take_turn(taker, answer) is not None
    result = stream.result(60)
    assert result.end_reason is EndReason.INPUT_ENDED and result.audio_seconds > seconds(answer)
    ends = [word.end for word in result.words]
    assert min(ends) < second_starts < max(ends), (ends, second_starts)  # both halves heard


class ScriptedVosk:
    """Stands in for the ``vosk`` module: Vosk's endpoint closes a segment ("일 구 팔 사")
    at the 5th frame, then the partial of the next segment grows."""

    class KaldiRecognizer:
        def __init__(self, *args: object) -> None:
            self.frames = 0

        def SetWords(self, on: bool) -> None:
            pass

        def AcceptWaveform(self, frame: bytes) -> bool:
            self.frames += 1
            return self.frames == 5

        def Result(self) -> str:
            return json.dumps({"text": "일 구 팔 사"})

        def PartialResult(self) -> str:
            return json.dumps({"partial": "공 삼" if self.frames > 5 else "일 구"})

        def FinalResult(self) -> str:
            return json.dumps({"text": "공 삼 일 이"})


def test_a_partial_carries_the_words_of_the_segments_before_it(monkeypatch) -> None:
    """With Vosk's endpoint only closing segments, the partial the turn-taker checks (is the
    closed question answered?) is the whole answer so far, not the last segment's."""
    monkeypatch.setitem(sys.modules, "vosk", ScriptedVosk)
    model = LoadedModel("ko", Path("/nowhere"), object(), runtime_graph=True)
    partials: list[str] = []
    stream = UtteranceStream(model, FREE, UtteranceLimits(vosk_endpoint=False),
                             partials.append)
    for _ in range(12):
        stream.feed(bytes(3200))  # 0.1 s each: a partial every frame
    stream.end_input()
    result = stream._run()
    assert "일 구 팔 사" in partials  # published when the segment closed
    assert partials[-1] == "일 구 팔 사 공 삼"
    assert result.text == "일 구 팔 사 공 삼 일 이"
