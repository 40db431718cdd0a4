"""`telesec speech eval DIR` on small sets built here: Korean espeak-ng recordings through
the Korean model (words), French phrasings at text level (meaning: the understanding has
no Korean)."""

from __future__ import annotations

import array
import re
import wave
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ivr_flows.speech_eval import word_errors
from speech.synthetic import telephone_speech
from telesec.cli import app
from tests.speech.conftest import KOREAN_MODEL

KOREAN = {"yes.wav": "네 맞습니다", "booking.wav": "안녕하세요 예약을 하고 싶습니다"}


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)


@pytest.fixture(scope="module")
def korean_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ko-set")
    lines = ["language: ko", "clips:"]
    for number, (name, text) in enumerate(KOREAN.items()):
        pcm = telephone_speech(text, lead=0.3, trail=0.5)
        if number == 0:  # a phone recording at 8 kHz (already band-limited)
            samples = array.array("h")
            samples.frombytes(pcm)
            write_wav(folder / name, samples[::2].tobytes(), 8_000)
        else:
            write_wav(folder / name, pcm, 16_000)
        lines += [f"  - file: {name}", f"    text: {text}"]
    (folder / "expected.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


FRENCH = """\
language: fr
today: 2026-12-07
clips:
  - heard: oui c'est bien ça
    yes_no: true
  - heard: non merci
    yes_no: false
  - heard: le douze mars mille neuf cent quatre-vingt-quatre
    date: 1984-03-12
  - heard: zéro six douze trente-quatre
    digits: "06123 4"
  - heard: je voudrais prendre rendez-vous
    intent: book
"""


def test_word_errors() -> None:
    assert word_errors("a b c", "a b c") == (0, 3)
    assert word_errors("a b c", "a x") == (2, 3)
    assert word_errors("a b", "") == (2, 2)


@pytest.mark.timeout(180)
def test_a_korean_set_through_the_model(korean_set: Path) -> None:
    result = CliRunner().invoke(app, ["speech", "eval", str(korean_set),
                                      "--model", str(KOREAN_MODEL)])
    assert result.exit_code == 0, result.output
    row = re.search(r"^text\s+2\s+([0-9.]+)%\s+-\s+([0-9.]+)\s+([0-9.]+)$", result.output, re.M)
    assert row, result.output
    assert float(row.group(2)) > 0  # decoding speed measured


def test_a_french_set_at_text_level(tmp_path: Path) -> None:
    (tmp_path / "expected.yaml").write_text(FRENCH, encoding="utf-8")
    result = CliRunner().invoke(app, ["speech", "eval", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[2:]}
    assert rows["yes_no"][1:4] == ["2", "-", "100.0%"]
    assert rows["date"][3] == "100.0%" and rows["intent"][3] == "100.0%"
    assert rows["digits"][3] == "0.0%"  # the expectation above is wrong on purpose
    assert rows["all"][1:4] == ["5", "-", "80.0%"]


def test_a_folder_without_its_index_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["speech", "eval", str(tmp_path)])
    assert result.exit_code == 1
    assert "has no expected.yaml" in result.output
