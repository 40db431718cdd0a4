"""The information intent's topics: what about the practice a caller asks, fr and en."""

from __future__ import annotations

import pytest

from ivr_flows.understanding import Intent, detect_intent
from ivr_flows.understanding.information import (
    Topic,
    asks_whole_week,
    information_request,
    information_topics,
)

H, A, D, N, E = (Topic.HOURS, Topic.ADDRESS, Topic.DOCTORS, Topic.NEW_PATIENTS,
                 Topic.EMERGENCY_NUMBERS)

CASES = [
    ("fr", "quels sont vos horaires", (H,)),
    ("fr", "vous fermez à quelle heure", (H,)),
    ("fr", "est-ce que vous êtes ouverts demain", (H,)),
    ("fr", "c'est quoi votre adresse", (A,)),
    ("fr", "vous êtes où exactement", (A,)),
    ("fr", "il y a un ascenseur", (A,)),
    ("fr", "quels médecins consultent au cabinet", (D,)),
    ("fr", "vous prenez encore de nouveaux patients", (N,)),
    ("fr", "le numéro de la pharmacie de garde", (E,)),
    ("fr", "c'est quoi le numéro de SOS médecins", (E,)),
    ("fr", "vos horaires et votre adresse s'il vous plaît", (H, A)),
    ("fr", "je voudrais un renseignement", ()),
    ("en", "what are your opening hours", (H,)),
    ("en", "when do you close", (H,)),
    ("en", "where is the practice", (A,)),
    ("en", "can I park nearby", (A,)),
    ("en", "how many doctors are there", (D,)),
    ("en", "do you accept new patients", (N,)),
    ("en", "the out of hours doctor", (E,)),
    ("en", "your address and your opening hours", (H, A)),
    ("en", "I have a question", ()),
]


@pytest.mark.parametrize(("lang", "text", "topics"), CASES)
def test_the_topics_asked(lang: str, text: str, topics: tuple[Topic, ...]) -> None:
    assert information_topics(text, lang) == topics
    assert detect_intent(text, lang) is Intent.INFORMATION


@pytest.mark.parametrize(("lang", "text", "intent"), [
    ("fr", "je voudrais un rendez-vous avec le docteur Lambert demain matin", Intent.BOOK),
    ("fr", "je voudrais annuler mon rendez-vous de demain", Intent.CANCEL),
    ("fr", "je voudrais parler à la secrétaire", Intent.SECRETARY),
    ("en", "I'd like an appointment in two hours", Intent.BOOK),
    ("en", "can I speak to the receptionist", Intent.SECRETARY),
])
def test_other_requests_are_not_information(lang: str, text: str, intent: Intent) -> None:
    assert detect_intent(text, lang) is intent


@pytest.mark.parametrize(("lang", "text"), [
    ("fr", "c'est quoi le numéro des urgences"),
    ("fr", "quel est le numéro du SAMU"),
    ("en", "what is the emergency number"),
])
def test_asking_for_the_emergency_numbers_is_not_an_emergency(lang: str, text: str) -> None:
    assert detect_intent(text, lang) is Intent.INFORMATION
    assert information_topics(text, lang) == (E,)


def test_the_whole_week_only_when_asked() -> None:
    assert asks_whole_week("vos horaires de la semaine", "fr")
    assert asks_whole_week("all your opening hours", "en")
    assert not asks_whole_week("vous êtes ouverts aujourd'hui", "fr")
    assert information_request("vos horaires de toute la semaine", "fr").whole_week
    assert not information_request("vos horaires", "fr").whole_week
    week = information_request("vous êtes ouverts tous les jours ?", "fr")
    assert week.topics == (H,) and week.whole_week
    # a week said beside another topic is not a question about hours
    assert not information_request("votre adresse, je viens la semaine prochaine", "fr").whole_week
