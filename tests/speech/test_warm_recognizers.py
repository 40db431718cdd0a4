"""Recognizers kept warm between utterances: same words, nothing of the last caller, capped."""

from __future__ import annotations

import time
from difflib import SequenceMatcher
from pathlib import Path

import pytest

from speech.models import LoadedModel, ModelRegistry
from speech.recognizer import EndReason, SpeechEngine, UtteranceLimits, UtteranceStream
from speech.synthetic import frames, line_hiss, telephone_speech
from speech.warm_recognizers import Lease, WarmRecognizers
from tests.speech.conftest import FAST_FEED

ANSWERS = ["다음 주 화요일 오후 세 시에 가능합니다", "네 맞습니다", "내일 오전에 진료 가능한가요"]


def _decode(engine: SpeechEngine, pcm: bytes, *, end_input: bool = True,
            limits: UtteranceLimits = FAST_FEED) -> tuple[UtteranceStream, object]:
    stream = engine.start_utterance("ko", limits=limits)
    assert isinstance(stream, UtteranceStream), stream
    for frame in frames(pcm):
        if not stream.feed(frame):
            break
    if end_input:
        stream.end_input()
    return stream, stream.result(60)


def _settled(engine: SpeechEngine, idle: int) -> None:
    """The recognizer goes back after the result is out: wait for it."""
    deadline = time.monotonic() + 10
    while engine.recognizers.idle < idle and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.recognizers.idle == idle


@pytest.fixture(scope="module")
def answers() -> list[bytes]:
    return [telephone_speech(text, lead=0.3, trail=0.8) for text in ANSWERS]


def test_a_reused_recognizer_hears_what_a_new_one_hears(korean_registry: ModelRegistry,
                                                         answers: list[bytes]):
    warm = SpeechEngine(korean_registry, max_concurrent_streams=1, limits=FAST_FEED)
    new = SpeechEngine(korean_registry, max_concurrent_streams=1, limits=FAST_FEED, warm=0)
    kept_decodes = 0
    try:
        for pcm in answers:
            # Vosk dithers its features at random: recognizers differ from each other now
            # and then (by a word, rarely by half the answer), so the kept one is held to
            # the closest of three new ones: mostly the same letters, the same timing. Its
            # own draw may be one of the rare far ones: it hears the answer again (reused
            # once more) before that counts as a difference, up to three times.
            fresh = [_decode(new, pcm)[1] for _ in range(3)]
            for _ in range(3):
                _, kept = _decode(warm, pcm)
                kept_decodes += 1
                _settled(warm, 1)
                ours = kept.text.replace(" ", "")  # type: ignore[attr-defined]
                assert ours
                closest = max(SequenceMatcher(None, ours, other.text.replace(" ", "")).ratio()
                              for other in fresh)  # type: ignore[attr-defined]
                if closest >= 0.6:
                    break
            assert closest >= 0.6, (kept, fresh)
            # word times count from this utterance's start, not the recognizer's life
            assert min(abs(kept.words[0].start - other.words[0].start)  # type: ignore
                       for other in fresh) < 0.1
            assert min(abs(kept.words[-1].end - other.words[-1].end)  # type: ignore
                       for other in fresh) < 0.3
        assert warm.recognizers.created == 1
        assert warm.recognizers.reused == kept_decodes - 1
        assert new.recognizers.idle == 0 and new.recognizers.created == 3 * len(answers)
    finally:
        warm.shutdown()
        new.shutdown()


def test_nothing_of_the_last_caller_is_heard_by_the_next(korean_registry: ModelRegistry,
                                                         answers: list[bytes]):
    """Cut off mid-answer (cancelled, or at Vosk's endpoint), then silence: nothing is heard."""
    engine = SpeechEngine(korean_registry, max_concurrent_streams=1, limits=FAST_FEED)
    try:
        stream = engine.start_utterance("ko", limits=FAST_FEED)
        assert isinstance(stream, UtteranceStream)
        for frame in frames(answers[0])[:60]:  # in the middle of a word
            stream.feed(frame)
        time.sleep(0.5)
        stream.cancel()
        assert stream.result(30).end_reason is EndReason.CANCELLED
        _settled(engine, 1)
        _, after = _decode(engine, line_hiss(2.0))
        assert after.text == "" and after.words == ()  # type: ignore[attr-defined]

        # ended at Vosk's endpoint: Vosk keeps its pipeline for a next segment. Its rules end
        # a segment after 0.5-2 s of what its decoder takes for silence; our own quiet check
        # waits longer here. A draw of Vosk's dithering may still decode line hiss as speech
        # and never reach an endpoint (seen once in CI: our check ended it at 2.6 s): that
        # utterance is checked too, and the case is tried again, up to three times
        endings = []
        for _ in range(3):
            _, heard = _decode(engine, answers[1] + line_hiss(3.0), end_input=False,
                               limits=UtteranceLimits(queue_seconds=60.0, silence_timeout=3.0,
                                                      end_silence=2.6))
            assert heard.text  # type: ignore[attr-defined]
            endings.append(heard.end_reason)  # type: ignore[attr-defined]
            _settled(engine, 1)
            _, after = _decode(engine, line_hiss(2.0))
            assert after.text == ""  # type: ignore[attr-defined]
            if endings[-1] is EndReason.ENDPOINT:
                break
        assert EndReason.ENDPOINT in endings, endings
        assert engine.recognizers.created == 1
    finally:
        engine.shutdown()


class _Model:
    """Stands in for a loaded vosk.Model in the cache-policy tests."""


def _lease(pool: WarmRecognizers, model: LoadedModel, grammar: str | None,
           monkeypatch: pytest.MonkeyPatch) -> Lease:
    monkeypatch.setattr("speech.warm_recognizers._new_recognizer",
                        lambda *_: object())
    return pool.take(model, grammar)


def test_kept_recognizers_are_capped_worn_out_and_only_clean(monkeypatch: pytest.MonkeyPatch):
    model = LoadedModel("ko", Path("/nowhere"), _Model(), True)
    pool = WarmRecognizers(16_000, per_grammar=2, max_uses=3)
    dirty = _lease(pool, model, None, monkeypatch)
    dirty.fed(0.5)  # audio in, never finalized: holds the caller's features
    pool.give_back(dirty)
    assert pool.idle == 0
    dirty.endpoint()  # Result() at Vosk's endpoint: the same
    pool.give_back(dirty)
    assert pool.idle == 0

    first = _lease(pool, model, None, monkeypatch)
    first.fed(1.0)
    first.finalized()
    pool.give_back(first)
    again = pool.take(model, None)
    assert again.recognizer is first.recognizer and again.offset_seconds == 1.0
    assert again.uses == 1
    again.fed(0.5)
    again.finalized()
    pool.give_back(again)
    worn = pool.take(model, None)
    assert worn.uses == 2
    pool.give_back(worn)  # a third use would exceed max_uses: dropped
    assert pool.idle == 0

    pool = WarmRecognizers(16_000, per_grammar=2, max_uses=10)
    free = [_lease(pool, model, None, monkeypatch) for _ in range(3)]
    for lease in free:
        pool.give_back(lease)
    assert pool.idle == 2  # one per stream that may decode at once, per grammar
    menus = [f'["choix{i}"]' for i in range(8)]
    for grammar in menus[:6]:
        pool.give_back(_lease(pool, model, grammar, monkeypatch))
    assert pool.idle == pool.max_idle == 8
    again = pool.take(model, None)  # the open question comes round again
    pool.give_back(again)
    for grammar in menus[6:]:
        pool.give_back(_lease(pool, model, grammar, monkeypatch))
    assert pool.idle == 8  # the least recently used grammars' went: choix0, choix1
    created = pool.created
    assert {pool.take(model, None).uses, pool.take(model, None).uses} == {1, 2}
    assert pool.take(model, menus[2]).uses == 1
    pool.take(model, menus[0])
    assert pool.created == created + 1


def test_recognizers_warmed_at_start_serve_the_first_callers(korean_registry: ModelRegistry,
                                                             answers: list[bytes]):
    """Warmed on other speech (a practice's prompts): the first callers take them, hear
    their own words only, timed from their own start."""
    engine = SpeechEngine(korean_registry, max_concurrent_streams=2, limits=FAST_FEED)
    prompts = telephone_speech("안녕하세요 예약을 하고 싶습니다 목요일 아침", lead=0.2, trail=0.3)
    try:
        engine.prewarm_in_background({"ko": prompts, "xx": prompts}).join(120)
        model = korean_registry.get("ko")
        assert engine.recognizers.prewarmed == 2
        assert engine.recognizers.waiting(model) == 2 and engine.recognizers.created == 0
        _, silence = _decode(engine, line_hiss(1.5))
        assert silence.text == ""  # type: ignore[attr-defined]
        _settled(engine, 2)
        _, heard = _decode(engine, answers[0])
        assert heard.text and heard.words[0].start < 1.0  # type: ignore[attr-defined]
        assert engine.recognizers.created == 0 and engine.recognizers.reused == 2
    finally:
        engine.shutdown()


def test_shutdown_stops_a_warm_up(korean_registry: ModelRegistry):
    engine = SpeechEngine(korean_registry, max_concurrent_streams=8, limits=FAST_FEED)
    long_speech = telephone_speech("다음 주 화요일 오후 세 시에 가능합니다 " * 6)
    warming = engine.prewarm_in_background({"ko": long_speech})
    time.sleep(0.3)
    started = time.monotonic()
    engine.shutdown()
    warming.join(10)
    assert not warming.is_alive() and time.monotonic() - started < 5
    assert engine.recognizers.prewarmed < 8
