"""Yes/no, spelled names, intents, emergencies, `understand`, and privacy."""

from __future__ import annotations

import logging
from datetime import date, datetime

import pytest

from ivr_flows.understanding import (
    DEFAULT_DETECTOR,
    Intent,
    detect_intent,
    is_emergency,
    parse_spelled_name,
    parse_yes_no,
    understand,
)

NOW = datetime(2025, 3, 12, 9, 30)


@pytest.mark.parametrize(("text", "expected"), [
    ("pas d'accord", False),          # the no phrase eats the yes inside it
    ("c'est pas ça", False),
    ("non c'est bien ça", None),      # both: ambiguous
    ("oui je crois", None),           # doubt wins
    ("ouais ouais d'accord", True),
    ("OUI !", True),
])
def test_yes_no_fr(text, expected):
    assert parse_yes_no(text, "fr") is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("not correct", False),
    ("I don't think so", False),
    ("yes no", None),
    ("I'm not sure", None),
    ("right", True),
])
def test_yes_no_en(text, expected):
    assert parse_yes_no(text, "en") is expected


def test_spelling_forms():
    assert parse_spelled_name("D U P O N T", "fr") == "DUPONT"
    assert parse_spelled_name("d comme Désiré u p o n t", "fr") == "DUPONT"
    assert parse_spelled_name("double vé", "fr") == "W"
    assert parse_spelled_name("double l", "en") == "LL"
    assert parse_spelled_name("deux n", "fr") == "NN"
    assert parse_spelled_name("e accent aigu", "fr") == "É"
    assert parse_spelled_name("tiret", "fr") is None
    assert parse_spelled_name("", "en") is None


@pytest.mark.parametrize(("text", "lang", "expected"), [
    ("je voudrais annuler et reprendre un autre rendez-vous", "fr", Intent.RESCHEDULE),
    ("je voudrais annuler mon rendez-vous", "fr", Intent.CANCEL),
    ("c'est urgent, je voudrais annuler", "fr", Intent.EMERGENCY),
    ("ce n'est pas urgent, je voudrais annuler", "fr", Intent.CANCEL),
    ("can I book an appointment for my chest pain", "en", Intent.EMERGENCY),
    ("bonjour", "fr", None),
    ("1 2 3", "en", None),
])
def test_intents(text, lang, expected):
    assert detect_intent(text, lang) == expected


@pytest.mark.parametrize("text", [
    "ce n'est pas urgent mais il ne respire plus",   # a symptom beats "pas urgent"
    "pas urgent mais douleur thoracique",
    "POITRINE, DOULEUR",                             # two weak cues together
    "il a mal au bras gauche et dans la poitrine",
])
def test_emergency_beats_reassurance(text):
    assert is_emergency(text, "fr")


@pytest.mark.parametrize(("text", "lang"), [
    ("ce n'est pas du tout urgent", "fr"),
    ("radio du thorax", "fr"),
    ("j'ai mal", "fr"),                              # one weak cue alone is not enough
    ("it's not an emergency", "en"),
    ("blood test results", "en"),
])
def test_not_emergencies(text, lang):
    assert not is_emergency(text, lang)


def test_practice_can_extend_the_table(tmp_path):
    phrase = "mon mari est tout gris"
    assert not DEFAULT_DETECTOR.is_emergency(phrase, "fr")
    extended = DEFAULT_DETECTOR.with_extra({"fr": [("tout gris", 1.0)]})
    assert extended.is_emergency(phrase, "fr")
    assert not DEFAULT_DETECTOR.is_emergency(phrase, "fr")   # the default is untouched

    extra = tmp_path / "emergency.yaml"
    extra.write_text("fr:\n  patterns: [['tout gris', 1.0]]\n  masks: ['urgence dentaire']\n",
                     encoding="utf-8")
    from_yaml = DEFAULT_DETECTOR.with_yaml(extra)
    assert from_yaml.is_emergency(phrase, "fr")
    assert not from_yaml.is_emergency("une urgence dentaire", "fr")


def test_understand_bundles_everything():
    result = understand("oui, demain matin vers dix heures", "fr", NOW)
    assert result.yes_no is True
    assert result.when.day == date(2025, 3, 14 - 1)
    assert result.time.hour == 10
    assert result.intent is None and not result.is_emergency
    booked = understand("je voudrais prendre rendez-vous lundi prochain", "fr", NOW)
    assert booked.intent is Intent.BOOK and 0 < booked.confidence <= 1
    assert booked.when.day == date(2025, 3, 17)
    assert booked.numbers == ()
    birth = understand("je suis né le 12 mars 1985", "fr", NOW)
    assert birth.birth_date == date(1985, 3, 12)


def test_emergency_wins_in_understand():
    result = understand("oui je voudrais un rendez-vous mais il respire mal", "fr", NOW)
    assert result.is_emergency and result.intent is Intent.EMERGENCY
    assert result.confidence >= 0.8


def test_understanding_logs_nothing(caplog):
    caplog.set_level(logging.DEBUG)
    understand("je suis Jeanne Dupont née le 12 mars 1985, j'ai mal à la poitrine", "fr", NOW)
    understand("my name is John Smith, I can't breathe", "en", NOW)
    assert caplog.records == []


def test_understanding_holds_no_copy_of_the_text():
    text = "je suis Jeanne Dupont"
    result = understand(text, "fr", NOW)
    assert all("dupont" not in repr(value).lower() for value in vars(result).values())
