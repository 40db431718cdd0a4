"""Prompt audio at run time: the practice's recording, else the cached synthesis, with the
dynamic parts (dates, times, numbers, names) composed in memory. Returns engine PCM bytes
(16 kHz mono s16le) ready for the telephony layer to play.
"""

from __future__ import annotations

import array
import os
import re
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, time
from pathlib import Path
from typing import Any

from foundation.errors import TelesecError
from ivr_flows.prompts.catalogue import Placeholder, load_catalogue
from ivr_flows.prompts.synth import SAMPLE_RATE, Synthesizer
from ivr_flows.prompts.wording import Fragment, say_date, say_time, say_value

WORD_GAP = 0.06  # seconds between composed words
PIECE_GAP = 0.15  # between a fixed text and a composed part
PAUSE = 0.3  # for "." and ";" in composed lists
EDGE_LEVEL = 300  # below this a sample at the edge of a clip counts as silence


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * SAMPLE_RATE) * 2)


def trim(pcm: bytes) -> bytes:
    """``pcm`` without the quiet lead-in and tail that espeak-ng puts around each clip."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    start, end = 0, len(samples)
    while start < end and abs(samples[start]) < EDGE_LEVEL:
        start += 1
    while end > start and abs(samples[end - 1]) < EDGE_LEVEL:
        end -= 1
    return pcm[start * 2 : end * 2]


class PromptComposer:
    """Says catalogue prompts and run-time values in one language family (fr, en)."""

    def __init__(self, synth: Synthesizer, recordings_dir: Path | None = None) -> None:
        self.synth = synth
        self.recordings_dir = recordings_dir

    # -- whole prompts ------------------------------------------------------------------

    def prompt(
        self,
        prompt_id: str,
        language: str,
        values: Mapping[str, Any] | None = None,
        *,
        practice: str | None = None,
    ) -> bytes:
        """The audio of one catalogue prompt with its ``{placeholders}`` filled from ``values``."""
        catalogue = load_catalogue(language)
        pieces = catalogue.pieces(prompt_id)
        has_parts = bool(catalogue.composed_parts(prompt_id))
        recorded = None if has_parts else self.recording(practice, language, prompt_id)
        if recorded is not None:
            return recorded
        chunks: list[bytes] = []
        for piece in pieces:
            if isinstance(piece, Placeholder):
                value = (values or {}).get(piece.name)
                chunks.append(self.fragments(say_value(value, language), catalogue.voice))
            else:
                chunks.append(trim(self.synth.cached(catalogue.voice, piece)))
        return silence(PIECE_GAP).join(chunk for chunk in chunks if chunk)

    def recording(self, practice: str | None, language: str, prompt_id: str) -> bytes | None:
        """The practice's own normalised recording of ``prompt_id``, if it uploaded one."""
        if practice is None or self.recordings_dir is None:
            return None
        path = recording_path(self.recordings_dir, practice, language, prompt_id)
        return path.read_bytes() if path.is_file() else None

    # -- dynamic parts ------------------------------------------------------------------

    def fragments(self, fragments: Sequence[Fragment], voice: str) -> bytes:
        """Fixed-vocabulary words from the cache, anything else synthesised in memory only."""
        out: list[bytes] = []
        for fragment in fragments:
            text = fragment.text.strip()
            if not text.strip(".;:,"):
                if text:
                    out.append(silence(PAUSE))
                continue
            if fragment.shared:
                out.append(trim(self.synth.cached(voice, text)))
            else:
                out.append(trim(self.synth.speak(voice, text)))
        return silence(WORD_GAP).join(out)

    def date(self, day: date, language: str) -> bytes:
        """fr: "le mardi 3 décembre"; en: "Tuesday the 3rd of December"."""
        return self.fragments(say_date(day, language), load_catalogue(language).voice)

    def time(self, moment: time, language: str) -> bytes:
        """fr: "à 10 heures 30"; en: "at 10 30 in the morning"."""
        return self.fragments(say_time(moment, language), load_catalogue(language).voice)

    def value(self, value: Any, language: str) -> bytes:
        """Any run-time value: a number, a datetime, an appointment, a list of choices..."""
        return self.fragments(say_value(value, language), load_catalogue(language).voice)


_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def recording_path(root: Path, practice: str, language: str, prompt_id: str) -> Path:
    """Where a practice's normalised recording of a prompt lives."""
    for part in (practice, language, prompt_id):
        if not _NAME.match(part):
            raise TelesecError(
                f"{part!r} is not a valid practice, language or prompt name; "
                "use lowercase letters, digits, '-' and '_'"
            )
    return root / practice / language / f"{prompt_id}.pcm"


def fixed_vocabulary(language: str) -> list[str]:
    """Every shared word a date, a time or a small number can be said with."""
    words: dict[str, None] = {}
    first = date(2024, 1, 1)  # a leap year: every day of every month
    for offset in range(366):
        day = date.fromordinal(first.toordinal() + offset)
        words.update(dict.fromkeys(f.text for f in say_date(day, language)))
    for hour in range(24):
        for minute in range(0, 60, 5):
            words.update(dict.fromkeys(f.text for f in say_time(time(hour, minute), language)))
    for number in range(0, 21):
        words.update(dict.fromkeys(f.text for f in say_value(number, language)))
    return [word for word in words if word.strip(".;:,")]


def warm_cache(composer: PromptComposer, language: str) -> tuple[int, int]:
    """Synthesise every catalogue text and fixed word into the cache: (prompts, words)."""
    catalogue = load_catalogue(language)
    texts = {
        piece: None
        for prompt_id in sorted(catalogue.ids)
        for piece in catalogue.pieces(prompt_id)
        if isinstance(piece, str)
    }
    vocabulary = fixed_vocabulary(language)
    texts.update(dict.fromkeys(vocabulary))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(lambda text: composer.synth.cached(catalogue.voice, text), texts))
    return len(catalogue.ids), len(vocabulary)


def speech_sample(composer: PromptComposer, language: str, seconds: float) -> list[Path]:
    """Cached catalogue prompts of ``language`` making up to ``seconds`` of the engine's own
    voice (synthesised into the cache if missing): speech to warm a recognizer on, nothing
    personal in it."""
    catalogue = load_catalogue(language)
    files: list[Path] = []
    heard = 0.0
    for prompt_id in sorted(catalogue.ids):
        for piece in catalogue.pieces(prompt_id):
            if not isinstance(piece, str):
                continue
            length = len(composer.synth.cached(catalogue.voice, piece)) / 2 / SAMPLE_RATE
            if heard + length <= seconds:
                heard += length
                files.append(composer.synth.cache_path(catalogue.voice, piece))
            if heard > seconds - 0.5:
                return files
    return files
