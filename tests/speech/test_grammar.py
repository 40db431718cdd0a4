"""Grammar-constrained decoding where the model allows it, clean free decoding where not."""

from __future__ import annotations

import json
from dataclasses import replace

from speech.grammar import DecodingMode, plan_grammar
from speech.models import ModelRegistry
from speech.recognizer import SpeechEngine, UtteranceStream
from speech.synthetic import frames, line_hiss, telephone_speech
from tests.speech.conftest import ENDED_BY_SILENCE

YES_NO_KO = ["네", "아니요", "예약", "안녕하세요"]


def _decode(engine: SpeechEngine, pcm: bytes, phrases: list[str] | None) -> UtteranceStream:
    stream = engine.start_utterance("ko", phrases=phrases)
    assert isinstance(stream, UtteranceStream)
    for frame in frames(pcm + line_hiss(2.0)):
        if not stream.feed(frame):
            break
    stream.result(30)
    return stream


def test_grammar_holds_decoding_to_the_phrases(engine: SpeechEngine, booking_phrase: bytes):
    stream = _decode(engine, booking_phrase, YES_NO_KO)
    assert stream.plan.mode is DecodingMode.CONSTRAINED
    result = stream.result()
    assert result.decoding is DecodingMode.CONSTRAINED
    assert result.heard and result.end_reason in ENDED_BY_SILENCE
    assert set(result.text.split()) <= set(YES_NO_KO)
    assert "예약" in result.text.split()


def test_unknown_words_fall_back_to_free_decoding(engine: SpeechEngine, booking_phrase: bytes):
    """French yes/no on the Korean model: no word is in its vocabulary."""
    stream = _decode(engine, booking_phrase, ["oui", "non", "zéro"])
    assert stream.plan.mode is DecodingMode.FREE
    assert stream.plan.dropped == ("oui", "non", "zéro")
    assert "vocabulary" in stream.plan.reason
    result = stream.result()
    assert result.decoding is DecodingMode.FREE and result.heard
    assert not set(result.text.split()) <= set(YES_NO_KO), "free decoding is not held"


def test_phrases_partly_known_keep_the_known_ones(korean_registry: ModelRegistry):
    plan = plan_grammar(korean_registry.get("ko"), ["네", "oui", "아니요"])
    assert plan.mode is DecodingMode.CONSTRAINED
    assert plan.phrases == ("네", "아니요") and plan.dropped == ("oui",)


def test_static_graph_model_falls_back_and_says_why(korean_registry: ModelRegistry):
    static = replace(korean_registry.get("ko"), runtime_graph=False)
    plan = plan_grammar(static, YES_NO_KO)
    assert plan.mode is DecodingMode.FREE and plan.grammar_json is None
    assert "static graph" in plan.reason


def test_no_phrases_is_free_decoding(korean_registry: ModelRegistry):
    assert plan_grammar(korean_registry.get("ko"), None).mode is DecodingMode.FREE
    assert plan_grammar(korean_registry.get("ko"), ["  "]).mode is DecodingMode.FREE


def test_grammar_json_keeps_accents_unescaped(korean_registry: ModelRegistry):
    """Vosk does not decode \\u escapes: "zéro" must reach it as UTF-8."""
    plan = plan_grammar(korean_registry.get("ko"), ["네"])
    assert not plan.catch_all, "this model has no [unk] word"
    assert plan.grammar_json == '["네"]'
    accented = replace(plan, phrases=("zéro", "deux"), catch_all=True)
    assert accented.grammar_json == '["zéro", "deux", "[unk]"]'
    assert json.loads(accented.grammar_json) == ["zéro", "deux", "[unk]"]


def test_speech_outside_the_grammar_is_still_held_to_it(engine: SpeechEngine):
    """With no [unk] in the model, other speech can only come out as grammar words or nothing."""
    pcm = telephone_speech("오늘 날씨가 정말 좋네요", lead=0.5, trail=1.0)
    result = _decode(engine, pcm, ["아니요"]).result()
    assert result.text in ("", "아니요") or set(result.text.split()) == {"아니요"}
