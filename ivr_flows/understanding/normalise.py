"""Text normalisation of recognised speech before it is understood.

`normalise` gives the canonical form callers can read (lowercase, French accents kept,
punctuation stripped, hyphens and apostrophes turned into word breaks, fillers dropped).
`words` gives the accent-folded tokens every parser of this package works on, so that
"apres midi" and "après-midi" mean the same thing.
"""

from __future__ import annotations

import re
import unicodedata

FILLERS: dict[str, frozenset[str]] = {
    "fr": frozenset({"euh", "heu", "euhh", "hum", "hmm", "hm", "bah", "ben", "beh", "hein", "mmh"}),
    "en": frozenset({"uh", "um", "uhm", "umm", "er", "erm", "hmm", "hm", "mmh", "ah"}),
}

_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss"})
_APOSTROPHES = re.compile(r"[’‘`´ʼ]")
_CLOCK = re.compile(r"(\d)\s*[:]\s*(\d)")
_AUJOURDHUI = re.compile(r"\baujourd\s*'?\s*hui\b")
_EN_CONTRACTIONS = [
    (re.compile(r"\bwon'?t\b"), "will not"),
    (re.compile(r"\bcan'?t\b"), "can not"),
    (re.compile(r"\bcannot\b"), "can not"),
    (re.compile(r"\bain'?t\b"), "is not"),
    (re.compile(r"\b(do|does|did|is|are|was|were|has|have|had|could|would|should)n'?t\b"),
     r"\1 not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"\bi'?m\b"), "i am"),
    (re.compile(r"\b(that|it|what|there|he|she)'?s\b"), r"\1 is"),
    (re.compile(r"'re\b"), " are"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"\b(i|you|we|they)'?ve\b"), r"\1 have"),
    (re.compile(r"'d\b"), " would"),
    (re.compile(r"\bo'?clock\b"), "o clock"),
    (re.compile(r"'s\b"), ""),
]
_NOT_WORD = re.compile(r"[^\w]+")
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)")


def fold(text: str) -> str:
    """Strip accents ("après" -> "apres"); leaves everything else alone."""
    decomposed = unicodedata.normalize("NFD", text.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise(text: str, lang: str) -> str:
    """Canonical form of a recognised utterance: lowercase, no punctuation, no fillers.

    Accents are kept (use `words` for the accent-folded tokens). Hyphens, apostrophes
    and slashes become word breaks ("l'après-midi" -> "l après midi",
    "quatre-vingt-dix" -> "quatre vingt dix"), except "aujourd'hui" -> "aujourdhui";
    English contractions are expanded ("can't" -> "can not"); "10:30" -> "10 h 30";
    digits are split from letters ("12h30" -> "12 h 30", "1er" -> "1 er").
    """
    s = unicodedata.normalize("NFKC", text).casefold().translate(_LIGATURES)
    s = _APOSTROPHES.sub("'", s)
    s = _CLOCK.sub(r"\1h\2", s)
    s = _AUJOURDHUI.sub("aujourdhui", s)
    if lang == "en":
        for pattern, replacement in _EN_CONTRACTIONS:
            s = pattern.sub(replacement, s)
    s = _NOT_WORD.sub(" ", s).replace("_", " ")
    s = _DIGIT_LETTER.sub(" ", s)
    fillers = FILLERS.get(lang, FILLERS["fr"])
    return " ".join(w for w in s.split() if w not in fillers)


def words(text: str, lang: str) -> tuple[str, ...]:
    """Accent-folded tokens of `normalise(text, lang)`."""
    return tuple(fold(normalise(text, lang)).split())


def folded(text: str, lang: str) -> str:
    """`words` joined by single spaces: the string the pattern tables match against."""
    return " ".join(words(text, lang))
