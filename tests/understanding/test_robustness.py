"""Any text at all (recogniser garbage, hostile input) is understood without raising."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr_flows.understanding import (
    parse_birth_date,
    parse_digits,
    parse_number,
    parse_spelled_name,
    parse_time,
    parse_when,
    understand,
)

_SALAD = (
    "un deux trois quatre vingt cent mille et soixante dix zéro h heures midi moins le quart "
    "demain lundi prochain matin après-midi mars février 1985 12 03 oui non pas urgent "
    "one two twenty hundred thousand and oh double past to half noon next tuesday march "
    "the first twelfth am pm o'clock yes no not a comme double v tiret , . : / -"
)
VOCABULARY = _SALAD.split()
NOW = datetime(2025, 3, 12, 9, 30)


def _all(text: str, lang: str) -> None:
    understand(text, lang, NOW)
    parse_number(text, lang)
    parse_digits(text, lang)
    parse_birth_date(text, lang, NOW.date())
    parse_time(text, lang)
    parse_when(text, lang, NOW)
    parse_spelled_name(text, lang)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.sampled_from(["fr", "en"]))
def test_arbitrary_text(text, lang):
    _all(text, lang)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), max_size=14), st.sampled_from(["fr", "en"]))
def test_word_salad_of_meaningful_words(tokens, lang):
    _all(" ".join(tokens), lang)
