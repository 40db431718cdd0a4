"""Emergency detection: weighted phrase table per language, masks for "not urgent".

The default table lives in `emergency_table.py`. A practice adds phrases with
`EmergencyDetector.with_extra(...)` or a YAML file of the same shape:

    fr:
      patterns: [["mon mari est tout gris", 1.0]]
      masks: ["urgence dentaire"]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ivr_flows.understanding.emergency_table import MASKS, PATTERNS
from ivr_flows.understanding.normalise import fold, folded

THRESHOLD = 1.0


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + fold(pattern.casefold()) + r")\b")


@dataclass(frozen=True)
class EmergencyVerdict:
    """Score of an utterance against the table; `is_emergency` when it reaches 1.0."""

    score: float
    matched: int

    @property
    def is_emergency(self) -> bool:
        return self.score >= THRESHOLD


@dataclass
class EmergencyDetector:
    """Compiled emergency table; immutable once built, safe to share between calls."""

    patterns: dict[str, list[tuple[re.Pattern[str], float]]] = field(default_factory=dict)
    masks: dict[str, list[re.Pattern[str]]] = field(default_factory=dict)

    @classmethod
    def from_tables(cls, patterns: dict[str, list[tuple[str, float]]],
                    masks: dict[str, list[str]]) -> EmergencyDetector:
        return cls(
            {lang: [(_compile(p), float(w)) for p, w in rows] for lang, rows in patterns.items()},
            {lang: [_compile(p) for p in rows] for lang, rows in masks.items()},
        )

    def with_extra(self, patterns: dict[str, list[tuple[str, float]]] | None = None,
                   masks: dict[str, list[str]] | None = None) -> EmergencyDetector:
        """A new detector with the practice's own phrases added to these."""
        extra = EmergencyDetector.from_tables(patterns or {}, masks or {})
        langs = set(self.patterns) | set(extra.patterns) | set(self.masks) | set(extra.masks)
        return EmergencyDetector(
            {lang: self.patterns.get(lang, []) + extra.patterns.get(lang, []) for lang in langs},
            {lang: self.masks.get(lang, []) + extra.masks.get(lang, []) for lang in langs},
        )

    def with_yaml(self, path: Path) -> EmergencyDetector:
        """A new detector extended from a YAML file (see module docstring)."""
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        patterns = {lang: [(str(p), float(w)) for p, w in (body or {}).get("patterns", [])]
                    for lang, body in data.items()}
        masks = {lang: [str(m) for m in (body or {}).get("masks", [])]
                 for lang, body in data.items()}
        return self.with_extra(patterns, masks)

    def assess(self, text: str, lang: str) -> EmergencyVerdict:
        """Score `text`; masked wordings ("pas urgent") cannot trigger."""
        s = f" {folded(text, lang)} "
        for mask in self.masks.get(lang, []):
            s = mask.sub(lambda m: "#" * len(m.group(0)), s)
        score = 0.0
        matched = 0
        for pattern, weight in self.patterns.get(lang, []):
            if pattern.search(s):
                score += weight
                matched += 1
        return EmergencyVerdict(round(score, 3), matched)

    def is_emergency(self, text: str, lang: str) -> bool:
        return self.assess(text, lang).is_emergency


DEFAULT_DETECTOR = EmergencyDetector.from_tables(PATTERNS, MASKS)


def is_emergency(text: str, lang: str) -> bool:
    """True when `text` sounds like a medical emergency (default table)."""
    return DEFAULT_DETECTOR.is_emergency(text, lang)
