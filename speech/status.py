"""Is speech on? With no model installed the engine still runs (keys only) and says so once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from foundation.settings import Settings
from speech.models import SUPPORTED_LANGUAGES, configured_model_paths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechStatus:
    """Which languages can be recognised, and which cannot (those calls use keys only)."""

    models: dict[str, Path]

    @property
    def enabled(self) -> bool:
        return bool(self.models)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(lang for lang in SUPPORTED_LANGUAGES if lang not in self.models)

    def summary(self) -> str:
        """One line for the log: what is on, what is off and how to turn it on."""
        if not self.enabled:
            return (
                "speech is off: no Vosk model installed, callers use keys only; "
                "turn it on with `telesec models install fr`"
            )
        line = "speech is on for " + ", ".join(sorted(self.models))
        if self.missing:
            fixes = " and ".join(f"`telesec models install {lang}`" for lang in self.missing)
            line += f"; off for {', '.join(self.missing)} (keys only) — turn it on with {fixes}"
        return line


def speech_status(settings: Settings) -> SpeechStatus:
    """What speech can do with the models found for ``settings``."""
    return SpeechStatus(configured_model_paths(settings))


def announce(settings: Settings, logger: logging.Logger | None = None) -> SpeechStatus:
    """Log the speech status as exactly one line at start-up and return it."""
    status = speech_status(settings)
    (logger or log).info(status.summary())
    return status
