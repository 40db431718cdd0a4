"""Everything the interpreter may need from one utterance, computed at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from ivr_flows.understanding.dates import parse_birth_date
from ivr_flows.understanding.emergency import DEFAULT_DETECTOR, EmergencyDetector
from ivr_flows.understanding.intents import Intent, score_intents
from ivr_flows.understanding.normalise import words
from ivr_flows.understanding.numbers import find_numbers, parse_digits
from ivr_flows.understanding.times import parse_time
from ivr_flows.understanding.when import When, parse_when
from ivr_flows.understanding.yesno import parse_yes_no

_ARTICLES = frozenset({"un", "une"})


@dataclass(frozen=True)
class Understanding:
    """Meaning of an utterance; holds no copy of the text."""

    intent: Intent | None
    confidence: float
    is_emergency: bool
    emergency_score: float
    yes_no: bool | None
    numbers: tuple[int, ...]
    digits: str | None
    birth_date: date | None
    when: When | None
    time: time | None


def understand(text: str, lang: str, now: datetime | None = None,
               detector: EmergencyDetector = DEFAULT_DETECTOR) -> Understanding:
    """Intent, yes/no, numbers, dates, times and emergency of `text` in one pass.

    Emergencies take precedence: when `is_emergency`, `intent` is `Intent.EMERGENCY`.
    """
    now = now or datetime.now()
    scored = score_intents(text, lang, detector)
    t = words(text, lang)
    numbers = tuple(s.value for s in find_numbers(t, lang)
                    if not (s.end - s.start == 1 and t[s.start] in _ARTICLES))
    is_emergency = scored.best is Intent.EMERGENCY
    return Understanding(
        intent=scored.best,
        confidence=scored.confidence,
        is_emergency=is_emergency,
        emergency_score=scored.emergency_score,
        yes_no=parse_yes_no(text, lang),
        numbers=numbers,
        digits=parse_digits(text, lang) if numbers else None,
        birth_date=parse_birth_date(text, lang, now.date()),
        when=parse_when(text, lang, now),
        time=parse_time(text, lang),
    )
