"""Grammar-constrained decoding for closed questions (yes/no, digits, menu words).

Vosk honours a grammar only with lookahead models (graph/HCLr.fst + graph/Gr.fst); a static
HCLG graph ignores it. And it silently drops words that are not in the model's vocabulary.
So a plan is made first: which phrases the model can really be held to, or free decoding
(then the text understanding does the work) with the reason written down.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from speech.models import LoadedModel

UNKNOWN_TOKEN = "[unk]"


class DecodingMode(StrEnum):
    CONSTRAINED = "constrained"
    FREE = "free"


@dataclass(frozen=True)
class GrammarPlan:
    """How an utterance will be decoded, and why."""

    mode: DecodingMode
    phrases: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    reason: str = ""
    catch_all: bool = False  # the model knows "[unk]": other speech maps to it, not to a phrase

    @property
    def grammar_json(self) -> str | None:
        """The grammar for ``KaldiRecognizer(model, rate, grammar)``, or None for free decoding.

        ``ensure_ascii=False`` matters: Vosk does not decode ``\\u00e9`` escapes, so "zéro"
        escaped would be dropped as an unknown word.
        """
        if self.mode is DecodingMode.FREE:
            return None
        extra = [UNKNOWN_TOKEN] if self.catch_all else []
        return json.dumps([*self.phrases, *extra], ensure_ascii=False)


FREE = GrammarPlan(DecodingMode.FREE, reason="no grammar asked")


def plan_grammar(model: LoadedModel, phrases: list[str] | tuple[str, ...] | None) -> GrammarPlan:
    """Decide between constrained and free decoding for ``phrases`` on ``model``."""
    wanted = tuple(dict.fromkeys(p.strip().lower() for p in phrases or () if p.strip()))
    if not wanted:
        return FREE
    if not model.runtime_graph:
        return GrammarPlan(
            DecodingMode.FREE,
            dropped=wanted,
            reason="model has a static graph (no graph/HCLr.fst + Gr.fst): grammars unsupported",
        )
    kept: list[str] = []
    dropped: list[str] = []
    for phrase in wanted:
        if all(model.find_word(word) >= 0 for word in phrase.split()):
            kept.append(phrase)
        else:
            dropped.append(phrase)
    if not kept:
        return GrammarPlan(
            DecodingMode.FREE,
            dropped=tuple(dropped),
            reason="no grammar word is in the model's vocabulary",
        )
    reason = "all phrases in vocabulary" if not dropped else "some phrases not in vocabulary"
    catch_all = model.find_word(UNKNOWN_TOKEN) >= 0
    return GrammarPlan(DecodingMode.CONSTRAINED, tuple(kept), tuple(dropped), reason, catch_all)
