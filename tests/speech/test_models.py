"""Finding models on disk, loading each once, and the speech-off start-up line."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

import pytest

from foundation.errors import TelesecError
from foundation.settings import load_settings
from speech.models import (
    OFFICIAL_RELEASES,
    ModelRegistry,
    configured_model_paths,
    layout_problem,
    models_dir,
)
from speech.recognizer import RefusalReason, SpeechEngine, StreamRefused
from speech.status import announce, speech_status
from tests.speech.conftest import KOREAN_MODEL


def test_korean_test_model_has_a_valid_layout():
    assert layout_problem(KOREAN_MODEL) is None


def test_layout_problems_are_named(tmp_path: Path):
    assert "not a directory" in layout_problem(tmp_path / "nope")
    (tmp_path / "am").mkdir()
    assert "acoustic model" in layout_problem(tmp_path)
    (tmp_path / "am" / "final.mdl").write_bytes(b"x")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "model.conf").write_text("")
    assert "decoding graph" in layout_problem(tmp_path)
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "HCLG.fst").write_bytes(b"x")
    assert layout_problem(tmp_path) is None


def test_registry_loads_once_even_when_asked_from_many_threads(korean_registry):
    fresh = ModelRegistry({"ko": KOREAN_MODEL})
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(fresh.get("ko"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(got) == 4 and all(item is got[0] for item in got)
    assert got[0].runtime_graph is True
    assert got[0].find_word("안녕하세요") >= 0 and got[0].find_word("bonjour") == -1


def test_missing_language_says_how_to_install():
    with pytest.raises(TelesecError, match="telesec models install fr"):
        ModelRegistry({}).get("fr")


def test_explicit_setting_points_at_a_model(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path, speech={"model_en": KOREAN_MODEL})
    assert configured_model_paths(settings) == {"en": KOREAN_MODEL.resolve()}


def test_installed_model_is_found_in_the_models_dir(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path)
    assert models_dir(settings) == tmp_path.resolve() / "models"
    target = models_dir(settings) / OFFICIAL_RELEASES["fr"].name
    shutil.copytree(KOREAN_MODEL / "conf", target / "conf")
    (target / "am").mkdir()
    (target / "am" / "final.mdl").write_bytes(b"x")
    (target / "graph").mkdir()
    (target / "graph" / "HCLG.fst").write_bytes(b"x")
    assert configured_model_paths(settings) == {"fr": target}
    assert "off for en" in speech_status(settings).summary()


def test_no_model_means_speech_off_in_one_line(tmp_path: Path, caplog):
    settings = load_settings(data_dir=tmp_path)
    with caplog.at_level(logging.DEBUG):
        status = announce(settings)
    assert not status.enabled and status.missing == ("fr", "en")
    assert len(caplog.records) == 1
    line = caplog.records[0].getMessage()
    assert "speech is off" in line and "telesec models install fr" in line and "\n" not in line
    engine = SpeechEngine(ModelRegistry.from_settings(settings))
    try:
        assert engine.start_utterance("fr") == StreamRefused(RefusalReason.NO_MODEL)
    finally:
        engine.shutdown()
