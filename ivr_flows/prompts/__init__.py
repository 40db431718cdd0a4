"""The prompt catalogue (what Telesec says, per language) and its audio.

- :func:`load_catalogue`, :func:`check`, :func:`missing`: the texts, and load-time checks.
- :func:`render_text`: a prompt with its values as text (the text simulator, through
  :func:`ivr_flows.rendering.text`).
- :class:`PromptComposer` (via :func:`composer_for`): a prompt as engine audio.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ivr_flows.prompts.catalogue import (
    Catalogue,
    MissingPrompts,
    Placeholder,
    check,
    load_catalogue,
    missing,
)
from ivr_flows.prompts.compose import PromptComposer
from ivr_flows.prompts.synth import Synthesizer
from ivr_flows.prompts.wording import as_text, joined, say_value

__all__ = [
    "Catalogue",
    "MissingPrompts",
    "PromptComposer",
    "Synthesizer",
    "cache_dir",
    "check",
    "composer_for",
    "load_catalogue",
    "missing",
    "recordings_dir",
    "render_text",
]


def render_text(prompt_id: str, language: str, values: Mapping[str, Any] | None = None) -> str:
    """The prompt as one line of text, its ``{placeholders}`` filled from ``values``."""
    return joined(
        (as_text(say_value((values or {}).get(piece.name), language), language)
         if isinstance(piece, Placeholder) else piece
         for piece in load_catalogue(language).pieces(prompt_id)),
        language)


def cache_dir(data_path: Path) -> Path:
    """Where synthesised catalogue audio is cached (not personal data)."""
    return data_path / "prompts" / "cache"


def recordings_dir(data_path: Path) -> Path:
    """Where practices' own normalised recordings are kept."""
    return data_path / "prompts" / "recordings"


def composer_for(data_path: Path) -> PromptComposer:
    """The composer for a data directory (``Settings.data_path``)."""
    return PromptComposer(Synthesizer(cache_dir(data_path)), recordings_dir(data_path))
