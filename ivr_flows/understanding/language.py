"""Which language a caller speaks, French or English, from one utterance.

Counts the words that belong to one language only ("je", "voudrais", "vous" / "I",
"would", "appointment"); a language wins when it has enough of them and clearly more
than the other. Short or mixed utterances, names, numbers, "OK", "oui", "yes",
"docteur Moreau" decide nothing, nor do the words French callers borrow ("OK", "hello",
"thank you", "bye"): a call changes language only on a real sentence.
"""

from __future__ import annotations

import re

from ivr_flows.understanding.normalise import fold


def _vocabulary(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words of one language that callers use and the other language does not.
MARKERS: dict[str, frozenset[str]] = {
    "en": _vocabulary("""
        the an i you he she we they is are am was were be been would like want need to of
        for with my your his her this that it what where when which who how can could do
        does did not book booking appointment doctor tomorrow morning afternoon evening
        today week next speak talk english help there here and but have has got at from
        about just some any get make see open opening hours address new patients taking
        cancel change move message call back sorry very much well located
    """),
    "fr": _vocabulary("""
        je j voudrais veux voulais souhaite aimerais vous est c le la les un une des du de
        mon ma mes pour avec pas bonjour oui non merci rendez demain matin apres midi
        aujourdhui docteur docteure s il plait ne suis ai au aux et ou qui que quoi
        comment quand parler secretaire medecin cabinet ce cette votre vos nous elle on
        rdv annuler deplacer prendre avoir bien d accord semaine prochain prochaine
        francais horaires adresse nouveaux patients quel quels quelle sont etes
    """),
}
# The language's own name counts more: "English, please" is a choice.
NAMES = {"en": frozenset({"english"}), "fr": frozenset({"francais"})}
NAME_WEIGHT = 3
MIN_SCORE = 3  # at least three marker words (or the language's own name)
_WORD = re.compile(r"[^\W\d_]+")


def language_scores(text: str) -> dict[str, int]:
    """Marker words of each language in ``text`` (a language's own name counts 3)."""
    tokens = _WORD.findall(fold(text.casefold().replace("aujourd'hui", "aujourdhui")))
    scores = {}
    for lang, markers in MARKERS.items():
        both = MARKERS["fr"] & MARKERS["en"]
        scores[lang] = sum(NAME_WEIGHT if t in NAMES[lang] else 1 for t in tokens
                           if (t in markers and t not in both) or t in NAMES[lang])
    return scores


def detect_language(text: str) -> str | None:
    """"fr" or "en" when ``text`` is clearly in that language, else None."""
    scores = language_scores(text)
    best = max(scores, key=lambda lang: scores[lang])
    other = min(scores, key=lambda lang: scores[lang]) if len(scores) > 1 else best
    if best == other:
        return None
    if scores[best] >= MIN_SCORE and scores[best] >= 2 * scores[other] + 1:
        return best
    return None


def language_switch(text: str, current: str) -> str | None:
    """The language to switch the call to when the caller clearly speaks another one
    than ``current`` ("I'd like an appointment" in a French call -> "en"), else None."""
    found = detect_language(text)
    return found if found is not None and found != current else None


def leans_to_other(text: str, current: str) -> str | None:
    """The other language when ``text`` has more of its words than of ``current``'s, even
    too few to switch the call ("mon mari ne respire plus"): where else to look for an
    emergency."""
    scores = language_scores(text)
    others = [lang for lang in scores if lang != current and scores[lang] > scores.get(
        current, 0)]
    return others[0] if others else None
