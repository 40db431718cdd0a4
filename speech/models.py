"""Vosk models: the official releases, where they live on disk, and one loaded copy per language.

A ``vosk.Model`` is big and read-only. A process loads each language once (before forking the
user-agent workers, so the pages stay shared) and every recognizer of every call uses it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import TelesecError
from foundation.settings import Settings

log = logging.getLogger(__name__)

SUPPORTED_LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class ModelRelease:
    """One downloadable model archive: a zip holding one top-level folder named ``name``."""

    language: str
    name: str
    url: str
    sha256: str
    size_bytes: int


# Small models (about 40 MB, lookahead graphs, so grammars work). The archives are not signed
# upstream: the pinned SHA-256 is what tells us we got the same bytes as everyone else.
OFFICIAL_RELEASES: dict[str, ModelRelease] = {
    "fr": ModelRelease(
        language="fr",
        name="vosk-model-small-fr-0.22",
        url="https://alphacephei.com/vosk/models/vosk-model-small-fr-0.22.zip",
        sha256="cabf6180e177eb9b3a9a9d43a437bd5e549f3a7d09525e5d69a3fed787be12ad",
        size_bytes=42_233_323,
    ),
    "en": ModelRelease(
        language="en",
        name="vosk-model-small-en-us-0.15",
        url="https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
        sha256="30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498",
        size_bytes=41_205_931,
    ),
}


def release_for(language: str) -> ModelRelease:
    """The official release for ``language``, or a one-line error naming the supported ones."""
    try:
        return OFFICIAL_RELEASES[language]
    except KeyError:
        raise TelesecError(
            f"no speech model for language {language!r}; use one of "
            + ", ".join(SUPPORTED_LANGUAGES)
        ) from None


def models_dir(settings: Settings) -> Path:
    """Where installed models live: ``speech.models_dir``, else ``<data dir>/models``."""
    configured = settings.speech.models_dir
    base = configured.expanduser().resolve() if configured else settings.data_path / "models"
    return base


def layout_problem(path: Path) -> str | None:
    """Why ``path`` is not a usable Vosk model directory, or None when it looks right."""
    if not path.is_dir():
        return f"{path} is not a directory"
    if not ((path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file()):
        return f"{path} has no acoustic model (am/final.mdl)"
    if not (path / "conf" / "model.conf").is_file():
        return f"{path} has no decoder configuration (conf/model.conf)"
    graph = path / "graph"
    static = (graph / "HCLG.fst").is_file() or (path / "HCLG.fst").is_file()
    if not (static or has_runtime_graph(path)):
        return f"{path} has no decoding graph (graph/HCLG.fst or graph/HCLr.fst + graph/Gr.fst)"
    return None


def has_runtime_graph(path: Path) -> bool:
    """True for lookahead models (HCLr.fst + Gr.fst): only those accept a grammar at run time."""
    graph = path / "graph"
    return (graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file()


def configured_model_paths(settings: Settings) -> dict[str, Path]:
    """Language → model directory for every language with a usable model, explicit paths first."""
    found: dict[str, Path] = {}
    base = models_dir(settings)
    explicit = {"fr": settings.speech.model_fr, "en": settings.speech.model_en}
    for language in SUPPORTED_LANGUAGES:
        chosen = explicit[language]
        candidate = (
            chosen.expanduser().resolve() if chosen else base / OFFICIAL_RELEASES[language].name
        )
        if layout_problem(candidate) is None:
            found[language] = candidate
        elif chosen is not None:
            log.warning(
                "speech model for %s not usable: %s", language, layout_problem(candidate)
            )
    return found


@dataclass(frozen=True)
class LoadedModel:
    """A loaded ``vosk.Model`` with what the recognizers need to know about it."""

    language: str
    path: Path
    model: object  # vosk.Model; typed loosely so importing this module does not load libvosk
    runtime_graph: bool

    def find_word(self, word: str) -> int:
        """The word's id in the model's vocabulary, -1 when the model does not know it."""
        return int(self.model.vosk_model_find_word(word))  # type: ignore[attr-defined]


class ModelRegistry:
    """Loads each language's model at most once per process and hands the same copy to all."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self._paths = dict(paths)
        self._loaded: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelRegistry:
        return cls(configured_model_paths(settings))

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages that have a model directory (loaded or not yet)."""
        return tuple(sorted(self._paths))

    def has(self, language: str) -> bool:
        return language in self._paths

    def get(self, language: str) -> LoadedModel:
        """The shared model for ``language``, loading it on first use (thread-safe)."""
        with self._lock:
            loaded = self._loaded.get(language)
            if loaded is not None:
                return loaded
            path = self._paths.get(language)
            if path is None:
                raise TelesecError(
                    f"speech for {language!r} is off: no model installed; "
                    f"run `telesec models install {language}`"
                )
            loaded = _load(language, path)
            self._loaded[language] = loaded
            return loaded

    def preload(self) -> None:
        """Load every configured language now (call before forking workers)."""
        for language in self.languages:
            self.get(language)


def _load(language: str, path: Path) -> LoadedModel:
    import vosk

    problem = layout_problem(path)
    if problem is not None:
        raise TelesecError(f"speech model for {language} not usable: {problem}")
    vosk.SetLogLevel(-1)
    try:
        model = vosk.Model(str(path))
    except Exception:
        raise TelesecError(
            f"Vosk could not load the {language} model at {path}; "
            f"reinstall it with `telesec models install {language}`"
        ) from None
    log.info("speech model for %s loaded from %s", language, path)
    return LoadedModel(language, path, model, has_runtime_graph(path))
