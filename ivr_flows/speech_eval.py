"""Accuracy of speech on a practice's own recordings: word error rate, meaning, delays.

A set is a folder with ``expected.yaml`` and WAV files (mono 16-bit, 8 or 16 kHz)::

    language: fr
    today: 2026-12-07            # for birth dates
    clips:
      - file: oui_1.wav
        text: oui c'est bien ça   # what was said (for the word error rate)
        yes_no: true              # what it means: yes_no, digits, date or intent
      - file: date_1.wav
        text: le douze mars mille neuf cent quatre-vingt-quatre
        date: 1984-03-12
      - heard: je voudrais un rendez-vous   # no audio: the understanding only
        intent: book

Each WAV goes through the installed model as on a call (``speech.turns.TurnTaker``: Silero
finds the end of speech, the recognizer is finalized at once), fed as fast as it decodes;
the understanding then reads the words. Per meaning kind: clips, word error rate, meaning
accuracy, and the decoder's speed (seconds of decoding per second of audio, p50/p95).
Audio and transcripts stay in memory; nothing is written.
"""

from __future__ import annotations

import time
import wave
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

MEANINGS = ("yes_no", "digits", "date", "intent")


class EvalSetError(Exception):
    """The folder is not a usable set; the message says what to fix."""


@dataclass(frozen=True)
class Clip:
    name: str
    kind: str  # one of MEANINGS, or "text" when only words are checked
    expected_meaning: Any
    text: str | None = None  # what was said
    audio: Path | None = None
    heard: str | None = None  # text-level clip: no audio


@dataclass
class Score:
    kind: str
    clips: int = 0
    word_errors: int = 0
    words: int = 0
    meant: int = 0
    meanings: int = 0
    speeds: list[float] = field(default_factory=list)

    @property
    def wer(self) -> float | None:
        return self.word_errors / self.words if self.words else None

    @property
    def accuracy(self) -> float | None:
        return self.meant / self.meanings if self.meanings else None


def load_set(folder: Path) -> tuple[str, date, list[Clip]]:
    import yaml

    index = folder / "expected.yaml"
    if not index.is_file():
        raise EvalSetError(f"{folder} has no expected.yaml; see docs/speech.md")
    body = yaml.safe_load(index.read_text(encoding="utf-8")) or {}
    language = str(body.get("language", ""))
    if not language:
        raise EvalSetError(f"{index}: say the language (language: fr)")
    today = body.get("today") or date.today()
    if isinstance(today, str):
        today = date.fromisoformat(today)
    clips = []
    for number, entry in enumerate(body.get("clips") or [], 1):
        kinds = [k for k in MEANINGS if k in entry]
        audio = folder / str(entry["file"]) if "file" in entry else None
        if audio is not None and not audio.is_file():
            raise EvalSetError(f"{index}: clip {number}: {audio.name} is not in the folder")
        if audio is None and "heard" not in entry:
            raise EvalSetError(f"{index}: clip {number} needs file: or heard:")
        clips.append(Clip(
            name=str(entry.get("file", f"clip {number}")),
            kind=kinds[0] if kinds else "text",
            expected_meaning=entry[kinds[0]] if kinds else None,
            text=str(entry["text"]) if "text" in entry else None,
            audio=audio, heard=str(entry["heard"]) if "heard" in entry else None,
        ))
    if not clips:
        raise EvalSetError(f"{index}: no clips")
    return language, today, clips


def read_wav(path: Path) -> bytes:
    """16 kHz mono s16le PCM of a WAV file (8 kHz is brought up to 16 kHz)."""
    import numpy as np

    with wave.open(str(path), "rb") as wav:
        rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
        data = wav.readframes(wav.getnframes())
    if channels != 1 or width != 2 or rate not in (8_000, 16_000):
        raise EvalSetError(f"{path.name}: want mono 16-bit 8 or 16 kHz WAV "
                           f"(got {channels} channel(s), {8 * width} bit, {rate} Hz)")
    if rate == 16_000:
        return data
    samples = np.frombuffer(data, dtype="<i2").astype(np.float64)
    up = np.interp(np.arange(0, len(samples), 0.5), np.arange(len(samples)), samples)
    return up.astype("<i2").tobytes()


def word_errors(expected: str, heard: str) -> tuple[int, int]:
    """(edits, words expected): the word-level Levenshtein distance."""
    ref, hyp = expected.split(), heard.split()
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, said in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1,
                                           previous + (word != said))
    return row[-1], len(ref)


def meaning_of(kind: str, text: str, language: str, today: date) -> Any:
    from ivr_flows.understanding.dates import parse_birth_date
    from ivr_flows.understanding.numbers import parse_digits
    from ivr_flows.understanding.understand import understand
    from ivr_flows.understanding.yesno import parse_yes_no

    if kind == "yes_no":
        return parse_yes_no(text, language)
    if kind == "digits":
        return parse_digits(text, language)
    if kind == "date":
        return parse_birth_date(text, language, today)
    if kind == "intent":
        intent = understand(text, language, datetime.combine(today, datetime.min.time())).intent
        return intent.value if intent is not None else None
    return None


def _same(kind: str, got: Any, expected: Any) -> bool:
    if kind == "digits":
        return got == str(expected)
    if kind == "date" and isinstance(expected, str):
        expected = date.fromisoformat(expected)
    return got == expected


def transcribe(engine: Any, language: str, pcm: bytes) -> tuple[str, float]:
    """The words heard in ``pcm`` as on a call, and decoding seconds per audio second."""
    from speech.recognizer import StreamRefused, UtteranceLimits
    from speech.synthetic import frames, line_hiss
    from speech.turns import TurnTaker

    limits = UtteranceLimits(vosk_endpoint=False, queue_seconds=120, max_seconds=60)
    stream = engine.start_utterance(language, limits=limits)
    if isinstance(stream, StreamRefused):
        raise EvalSetError(f"no speech model for {language}: {stream.reason}")
    taker = TurnTaker(stream)
    started = time.monotonic()
    for frame in frames(pcm + line_hiss(1.5, seed=11), 40):
        if taker.feed(frame):
            break
    stream.end_input()
    result = stream.result(120)
    return result.text, (time.monotonic() - started) / max(result.audio_seconds, 0.01)


def evaluate(folder: Path, engine: Any | None) -> tuple[str, list[Score]]:
    """Run every clip; ``engine`` (a SpeechEngine) is needed only for clips with audio."""
    language, today, clips = load_set(folder)
    scores: dict[str, Score] = {}
    for clip in clips:
        score = scores.setdefault(clip.kind, Score(clip.kind))
        score.clips += 1
        if clip.audio is not None:
            if engine is None:
                raise EvalSetError(f"no speech model for {language}: "
                                   f"`telesec models install {language}` or --model DIR")
            heard, speed = transcribe(engine, language, read_wav(clip.audio))
            score.speeds.append(speed)
        else:
            heard = clip.heard or ""
        if clip.text is not None and clip.audio is not None:
            errors, count = word_errors(clip.text, heard)
            score.word_errors += errors
            score.words += count
        if clip.kind in MEANINGS:
            score.meanings += 1
            got = meaning_of(clip.kind, heard, language, today)
            score.meant += _same(clip.kind, got, clip.expected_meaning)
    return language, list(scores.values())


def _percent(value: float | None) -> str:
    return f"{value * 100:5.1f}%" if value is not None else "    -"


def _speed(values: list[float], share: float) -> str:
    if not values:
        return "    -"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]:5.2f}"


def format_report(language: str, scores: list[Score]) -> str:
    lines = [f"speech eval ({language}): word error rate, meaning accuracy, decoding "
             "seconds per audio second",
             f"{'meaning':<8} {'clips':>5} {'WER':>6} {'meaning':>7} {'rtf p50':>7} "
             f"{'rtf p95':>7}"]
    for s in scores:
        lines.append(f"{s.kind:<8} {s.clips:>5} {_percent(s.wer):>6} {_percent(s.accuracy):>7} "
                     f"{_speed(s.speeds, 0.5):>7} {_speed(s.speeds, 0.95):>7}")
    total = Score("all", sum(s.clips for s in scores), sum(s.word_errors for s in scores),
                  sum(s.words for s in scores), sum(s.meant for s in scores),
                  sum(s.meanings for s in scores), [v for s in scores for v in s.speeds])
    lines.append(f"{'all':<8} {total.clips:>5} {_percent(total.wer):>6} "
                 f"{_percent(total.accuracy):>7} {_speed(total.speeds, 0.5):>7} "
                 f"{_speed(total.speeds, 0.95):>7}")
    return "\n".join(lines)
