"""What a caller wants to know about the practice: hours, address, doctors, new patients,
emergency and on-call numbers (the topics of the ``information`` intent).

A weighted phrase table per language and topic, matched on the accent-folded text like
the intent table. ``information_topics`` gives every topic asked, in the order of the
table's topics; ``asks_whole_week`` says whether the caller wants every day's hours
("vos horaires de la semaine"), not only today's and the next opening.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ivr_flows.understanding.normalise import fold, folded

MIN_TOPIC_SCORE = 1.0


class Topic(StrEnum):
    """What the practice can tell a caller (values are the step's ``topics`` names)."""

    HOURS = "hours"
    ADDRESS = "address"  # the address and how to get in (access, transport, parking)
    DOCTORS = "doctors"
    NEW_PATIENTS = "new_patients"
    EMERGENCY_NUMBERS = "emergency_numbers"  # 15, 112, SOS Médecins, on call, pharmacy


TOPICS = tuple(Topic)

_DOC = r"(docteurs?|docteures?|medecins?|praticiens?|generalistes?|dr)"
_WHEN_OPEN = (r"(quand|a quelle heure|jusqu a quelle heure|a partir de quelle heure|"
              r"quel jour|quels jours) (est ce que )?(vous )?(etes|est|ouvr\w*|ferm\w*|"
              r"le cabinet|c est ouvert|consult\w*|il est ouvert|on peut venir)")

TOPIC_TABLE: dict[str, list[tuple[Topic, str, float]]] = {
    "fr": [
        (Topic.HOURS, r"horaires?|heures? d ouverture|jours? d ouverture", 2.0),
        (Topic.HOURS, _WHEN_OPEN, 2.0),
        (Topic.HOURS, r"(etes vous|vous etes|c est|est ce) (ouverts?|fermes?)|"
                      r"(ouvert|ferme|ouvre|ferme) (aujourdhui|demain|le samedi|le lundi|"
                      r"ce matin|cet apres midi|ce soir|a midi|entre midi)|"
                      r"(ouvert|ouverts|ouvre|ouvrez|fermez|ferme) (quand|a quelle heure)", 2.0),
        (Topic.ADDRESS, r"adresse|ou (se trouve|est situe|est|se situe|etes) (vous|le cabinet)|"
                        r"ou (vous etes|est ce que vous etes|c est)|vous etes ou|"
                        r"ou (vous )?trouver|comment (venir|aller|vous trouver|acceder|"
                        r"y aller|se rendre|me rendre|on vient)", 2.0),
        (Topic.ADDRESS, r"acces|accessible|fauteuil roulant|handicap\w*|ascenseur|"
                        r"se garer|parking|stationn\w*|tram\w*|metro|bus|quel etage|"
                        r"itineraire|plan d acces", 1.2),
        (Topic.DOCTORS, rf"(quels?|quelles?|combien de|qui sont les|les noms des) {_DOC}", 2.0),
        (Topic.DOCTORS, rf"(qui|quel {_DOC}) (consulte|travaille|exerce|recoit)|"
                        rf"{_DOC} (du|au) cabinet|(y a t il|il y a|vous avez) (un |une |des )?"
                        rf"(femme {_DOC}|{_DOC} (femme|homme)|pediatre|dentiste|kine)", 2.0),
        (Topic.NEW_PATIENTS, r"(prenez|acceptez|prend|accepte|recevez|recoit|prennent|"
                             r"acceptent) (encore |toujours |actuellement )?(de |des )?"
                             r"(nouveaux|nouvelles|nouveau|nouvelle) (patients?|patientes?|"
                             r"malades?)", 2.4),
        (Topic.NEW_PATIENTS, r"(medecin traitant|prendre comme medecin|devenir (votre )?patient|"
                             r"nouveaux patients|nouvelle patientele|patientele (est )?"
                             r"(complete|pleine|fermee))", 1.2),
        (Topic.EMERGENCY_NUMBERS, r"(medecin|docteur|pharmacie|pharmacien|dentiste) de garde|"
                                  r"\bgarde\b|permanence des soins|sos medecins?", 2.0),
        (Topic.EMERGENCY_NUMBERS, r"(numero|numeros) (d urgence|des urgences|du samu|"
                                  r"du 15|a appeler|de garde)|116 117|3237|3624", 2.0),
    ],
    "en": [
        (Topic.HOURS, r"hours", 0.8),
        (Topic.HOURS, r"(opening|office|surgery|your) (hours|times)|"
                      r"what time do you (open|close)|when (are|do) you (open|close)|"
                      r"are you open|is the (practice|surgery|office) open|open (today|"
                      r"tomorrow|on saturday|on saturdays|at the weekend)", 2.0),
        (Topic.ADDRESS, r"address|where (are|is) (you|the practice|the surgery|the office)|"
                        r"where (you are|is it)|how (do|can) i (get|find) (there|you|to you)|"
                        r"directions|how to get (there|to you)", 2.0),
        (Topic.ADDRESS, r"access|wheelchair|disabled|lift|elevator|parking|park|tram|"
                        r"bus|metro|which floor", 1.2),
        (Topic.DOCTORS, r"(which|what|how many) (doctors?|gps?|physicians?)|who are the "
                        r"(doctors?|gps?)|(doctors?|gps?) (at|in) the (practice|surgery)|"
                        r"(is there|do you have) a (female|woman|male) (doctor|gp)", 2.0),
        (Topic.NEW_PATIENTS, r"(taking|accepting|take|accept|registering|register) (on |in )?"
                             r"(any )?new patients?|new patients|register (with you|as a "
                             r"patient)|join the (practice|surgery)", 2.4),
        (Topic.EMERGENCY_NUMBERS, r"(doctor|gp|pharmacy|chemist) on (call|duty)|on call|"
                                  r"out of hours|duty (doctor|pharmacy)|sos medecins?|"
                                  r"emergency (number|numbers)|(number|numbers) (to call|for "
                                  r"emergencies)", 2.0),
    ],
}

_WEEK = {
    "fr": r"(toute la |de la |dans la |chaque |la )semaine|(tous|chaque) (les )?jours?|"
          r"du lundi au|semaine|le week end|tous vos horaires|les horaires complets",
    "en": r"(the|each|every|whole|all) week|every day|each day|weekly|monday to|"
          r"all (your|the) (opening )?hours|full (opening )?hours",
}

# Asking for information in general: no topic said ("j'ai une question").
_GENERAL = {
    "fr": r"(un |des |une )?renseignements?|(une |des )?informations?|(une |petite )?question",
    "en": r"(some )?information|(an )?enquiry|(an )?inquiry|(a |quick )?question",
}


def _compile(rx: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + fold(rx) + r")\b")


_COMPILED = {lang: [(topic, _compile(rx), w) for topic, rx, w in rows]
             for lang, rows in TOPIC_TABLE.items()}
_WEEK_RX = {lang: _compile(rx) for lang, rx in _WEEK.items()}
_GENERAL_RX = {lang: _compile(rx) for lang, rx in _GENERAL.items()}


@dataclass(frozen=True)
class InformationRequest:
    """What the caller asked about; ``topics`` empty: information, topic not said."""

    topics: tuple[Topic, ...]
    whole_week: bool = False


def topic_scores(text: str, lang: str) -> dict[Topic, float]:
    """Each topic's score for ``text`` (topics not matched are absent)."""
    s = folded(text, lang)
    scores: dict[Topic, float] = {}
    for topic, rx, weight in _COMPILED.get(lang, _COMPILED["fr"]):
        if rx.search(s):
            scores[topic] = scores.get(topic, 0.0) + weight
    return scores


def information_topics(text: str, lang: str) -> tuple[Topic, ...]:
    """The topics asked ("vos horaires et votre adresse" -> HOURS, ADDRESS), table order."""
    scores = topic_scores(text, lang)
    return tuple(t for t in TOPICS if scores.get(t, 0.0) >= MIN_TOPIC_SCORE)


def asks_whole_week(text: str, lang: str) -> bool:
    """True when the caller wants every day's hours, not only today's."""
    return bool(_WEEK_RX.get(lang, _WEEK_RX["fr"]).search(folded(text, lang)))


def asks_general_information(text: str, lang: str) -> bool:
    """True for "un renseignement" / "a question": information without a topic."""
    return bool(_GENERAL_RX.get(lang, _GENERAL_RX["fr"]).search(folded(text, lang)))


def information_request(text: str, lang: str) -> InformationRequest:
    """Topics and whether the whole week's hours are wanted, in one call."""
    topics = information_topics(text, lang)
    week = asks_whole_week(text, lang) and (not topics or Topic.HOURS in topics)
    if week and Topic.HOURS not in topics:
        topics = (Topic.HOURS,)
    return InformationRequest(topics, week)
