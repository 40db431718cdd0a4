"""Language of an utterance: a real sentence switches the call, short or mixed ones do not."""

from __future__ import annotations

import pytest

from ivr_flows.understanding.language import detect_language, language_switch

TO_ENGLISH = [
    "I'd like an appointment with doctor Lambert tomorrow morning",
    "Hello, do you speak English?",
    "what are your opening hours",
    "I need to cancel my appointment",
    "Hi, I'm a tourist and I need to see a doctor",
    "can I speak to someone",
    "English please",
    "English",
]
TO_FRENCH = [
    "Bonjour, je voudrais un rendez-vous",
    "je voudrais parler à la secrétaire",
    "c'est pour annuler mon rendez-vous de demain",
    "quels sont vos horaires",
    "français s'il vous plaît",
    "je voudrais un médecin qui parle anglais",
]
NEITHER = [
    "OK", "yes", "oui", "non", "Lambert", "docteur Moreau", "le 12 mars 1984", "consultation",
    "hello", "OK thank you", "merci", "bonjour", "rendez-vous", "parking", "bye bye",
    "d'accord", "yes please", "vaccination", "Chloé Blanchard", "le docteur Moreau please",
    "urgent", "", "1 2 3", "okay merci au revoir",
]


@pytest.mark.parametrize("text", TO_ENGLISH)
def test_an_english_sentence_switches_a_french_call(text: str) -> None:
    assert language_switch(text, "fr") == "en"
    assert language_switch(text, "en") is None


@pytest.mark.parametrize("text", TO_FRENCH)
def test_a_french_sentence_switches_an_english_call(text: str) -> None:
    assert language_switch(text, "en") == "fr"
    assert language_switch(text, "fr") is None


@pytest.mark.parametrize("text", NEITHER)
def test_short_or_ambiguous_utterances_switch_nothing(text: str) -> None:
    assert detect_language(text) is None
    assert language_switch(text, "fr") is None and language_switch(text, "en") is None


def test_where_else_to_look_for_an_emergency() -> None:
    from ivr_flows.meaning import is_emergency

    assert is_emergency("mon mari ne respire plus", "en")
    assert is_emergency("my husband has chest pain", "fr")
    assert not is_emergency("c'est pas urgent", "en")
    assert not is_emergency("it's not urgent at all", "fr")
    assert not is_emergency("what is the emergency number", "fr")
