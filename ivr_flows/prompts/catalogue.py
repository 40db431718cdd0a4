"""The prompt catalogue: prompt id → text, per language, loaded from ``catalogue_<lang>.yaml``.

A text may hold ``{name}`` placeholders, filled at run time by :mod:`ivr_flows.prompts.compose`.
:func:`check` lets a flow fail when it is loaded if it names a prompt the catalogue lacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from foundation.errors import TelesecError

LANGUAGES = ("fr", "en")
HERE = Path(__file__).parent
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Parts a practice's own recording says in its own words: its name and its keys. A prompt
# with only these parts ("Bonjour, vous êtes en ligne avec {practice}.") may be recorded.
SAID_BY_RECORDING = frozenset({"practice", "refuse_key", "notice_key"})


class MissingPrompts(TelesecError):
    """A flow names prompt ids that are not in the catalogue."""

    def __init__(self, language: str, ids: list[str]) -> None:
        self.language = language
        self.ids = ids
        super().__init__(
            f"prompt ids missing from the {language} catalogue: {', '.join(ids)}; "
            f"add them to ivr_flows/prompts/catalogue_{language}.yaml or fix the flow"
        )


@dataclass(frozen=True)
class Placeholder:
    """A part of a prompt filled at run time (``{appointment}``)."""

    name: str


Piece = str | Placeholder


@dataclass(frozen=True)
class Catalogue:
    """All prompts of one language, and the espeak-ng voice that reads them."""

    language: str
    voice: str
    texts: dict[str, str]

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self.texts)

    def text(self, prompt_id: str) -> str:
        try:
            return self.texts[prompt_id]
        except KeyError:
            raise MissingPrompts(self.language, [prompt_id]) from None

    def pieces(self, prompt_id: str) -> list[Piece]:
        """The prompt's text cut into fixed text and placeholders, in order."""
        return _split(self.text(prompt_id))

    def placeholders(self, prompt_id: str) -> tuple[str, ...]:
        return tuple(p.name for p in self.pieces(prompt_id) if isinstance(p, Placeholder))

    def composed_parts(self, prompt_id: str) -> tuple[str, ...]:
        """The parts a practice's recording of the prompt could not say (see
        ``SAID_BY_RECORDING``): none means the prompt may be recorded."""
        return tuple(n for n in self.placeholders(prompt_id) if n not in SAID_BY_RECORDING)


def _split(text: str) -> list[Piece]:
    pieces: list[Piece] = []
    at = 0
    for match in _PLACEHOLDER.finditer(text):
        if text[at : match.start()].strip():
            pieces.append(text[at : match.start()].strip())
        pieces.append(Placeholder(match.group(1)))
        at = match.end()
    if text[at:].strip():
        pieces.append(text[at:].strip())
    return pieces


@cache
def load_catalogue(language: str) -> Catalogue:
    """The catalogue for ``language`` (read once per process)."""
    if language not in LANGUAGES:
        raise TelesecError(f"no prompt catalogue for language {language!r}; use fr or en")
    path = HERE / f"catalogue_{language}.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TelesecError(f"prompt catalogue {path} cannot be read ({exc}); fix it") from None
    texts = raw.get("prompts") if isinstance(raw, dict) else None
    if not isinstance(texts, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in texts.items()
    ):
        raise TelesecError(f"prompt catalogue {path} must map each prompt id to a non-empty text")
    return Catalogue(language, str(raw.get("voice") or language), dict(texts))


def missing(prompt_ids: Iterable[str], language: str) -> list[str]:
    """The ids in ``prompt_ids`` that the ``language`` catalogue lacks (sorted, no repeats)."""
    known = load_catalogue(language).ids
    return sorted({pid for pid in prompt_ids if pid not in known})


def check(prompt_ids: Iterable[str], languages: Iterable[str] = LANGUAGES) -> None:
    """Raise :class:`MissingPrompts` naming every id absent from a catalogue."""
    wanted = list(prompt_ids)
    for language in languages:
        absent = missing(wanted, language)
        if absent:
            raise MissingPrompts(language, absent)
