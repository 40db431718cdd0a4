"""What the caller wants: a weighted phrase table per language, emergencies first.

Each row is (intent, regular expression on the accent-folded normalised text, weight);
the intent with the highest total wins if it reaches MIN_SCORE. Emergencies come from
the emergency table and override everything. INFORMATION scores from the topic table
of ``information.py`` (what about the practice is asked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ivr_flows.understanding.emergency import DEFAULT_DETECTOR, EmergencyDetector
from ivr_flows.understanding.information import asks_general_information, topic_scores
from ivr_flows.understanding.normalise import fold, folded

MIN_SCORE = 1.0


class Intent(StrEnum):
    """Intents a flow can branch on (values match the flow files' `expect:` names)."""

    BOOK = "book"
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"
    CONFIRM_APPOINTMENT = "confirm_appointment"
    MESSAGE = "message"
    SECRETARY = "secretary"
    PRESCRIPTION = "prescription"
    RESULTS = "results"
    EMERGENCY = "emergency"
    INFORMATION = "information"  # hours, address, doctors, new patients, on-call numbers

# A question about the practice: its topics' score, plus this for "un renseignement".
GENERAL_INFORMATION_WEIGHT = 1.2


_RDV = r"(rendez vous|rendezvous|rdv|rendez vou|rendre vous|consultation|visite|creneau)"
_RDV_EN = r"(appointment|appt|booking|slot|consultation|visit)"

INTENT_TABLE: dict[str, list[tuple[Intent, str, float]]] = {
    "fr": [
        (Intent.BOOK, rf"prendre (un |une )?{_RDV}", 2.0),
        (Intent.BOOK, rf"(avoir|obtenir|fixer|caler|reserver|besoin d|voudrais|veux|"
                      rf"voulais|souhaite|souhaiterais|aimerais|cherche) "
                      rf"(juste |simplement |seulement |bien )?(un |une )?"
                      rf"(nouveau |nouvelle |petit )?{_RDV}", 1.5),
        (Intent.BOOK, _RDV, 0.6),
        (Intent.BOOK, rf"(un|une) (nouveau |nouvelle |petit |petite )?{_RDV}", 1.0),
        (Intent.BOOK, r"(voir|consulter|passer voir|rencontrer) (le|la|un|une) "
                      r"(docteur|docteure|medecin|dr|generaliste|kine|infirmiere|specialiste)",
         1.2),
        (Intent.BOOK, r"consulter|prendre rendez|me faire examiner|faire examiner|"
                      r"des disponibilites|une disponibilite|une place|premier rendez", 1.0),
        (Intent.BOOK, r"(venir|passer) (au cabinet|consulter)|quand (est ce que )?je peux venir",
         1.0),
        (Intent.CANCEL, r"annul\w*|decommander|desister|me desiste", 2.0),
        (Intent.CANCEL, r"(ne|n) (pourrai|pourrais|peux|pourra|pourrons|vais) (pas|plus) "
                        r"(venir|etre (la|present\w*)|honorer|me rendre)", 2.0),
        (Intent.CANCEL, r"(pourrai|pourrais|peux|pourra|vais) (pas|plus) (venir|etre la|"
                        r"honorer|me rendre)|(ne )?viendrai pas|supprimer (mon|le|ma)", 1.8),
        (Intent.CANCEL, r"plus besoin (du|de mon|de ce|de la) (rendez vous|rdv|consultation)",
         2.0),
        (Intent.RESCHEDULE, r"deplac\w*|decal\w*|report\w*|avancer|reculer|repousser", 2.6),
        (Intent.RESCHEDULE, rf"(changer|modifier|bouger) (de |d )?(mon |le |la |l |ma |un |une )?"
                            rf"(date|heure|horaire|jour|{_RDV})", 2.6),
        (Intent.RESCHEDULE, r"(un )?autre (date|jour|heure|horaire|moment|creneau)", 1.4),
        (Intent.RESCHEDULE, rf"(reprendre|prendre|avoir|fixer|caler) un autre {_RDV}", 2.6),
        (Intent.RESCHEDULE, r"(changement|modification) (de|du) (rendez vous|rdv|date|"
                            r"creneau|horaire)", 2.6),
        (Intent.CONFIRM_APPOINTMENT, r"confirm\w*", 2.4),
        (Intent.CONFIRM_APPOINTMENT, r"(verifier|savoir|rappeler|vous demander|redonner)"
                                     r" (l heure|la date|le jour|quand|a quelle heure|si)",
         1.6),
        (Intent.CONFIRM_APPOINTMENT, r"(quand|a quelle heure|quel jour|c est quand) (est|etait"
                                     r"|j ai|ai je) (mon|le)? ?(rendez vous|rdv)", 2.6),
        (Intent.CONFIRM_APPOINTMENT, r"(mon|le) (rendez vous|rdv) (c est |est )?(bien|toujours)"
                                     r" (maintenu|prevu|valable|d actualite|a)", 2.6),
        (Intent.CONFIRM_APPOINTMENT, r"(bien|toujours) (prevu|maintenu|note|enregistre)", 1.6),
        (Intent.CONFIRM_APPOINTMENT, r"j ai (bien )?(un|mon) (rendez vous|rdv)", 1.0),
        (Intent.MESSAGE, r"laisser (un|une|mon|le) (message|mot|commentaire)|"
                         r"(un|le) message (pour|au|a)", 2.6),
        (Intent.MESSAGE, r"message|messagerie|transmettre|faire passer|faire savoir|"
                         r"prevenir (le|la) (docteur|medecin)|dire (au|a la) (docteur|medecin)|"
                         r"(le|la) (docteur|medecin) me rappelle|rappeler par (le|la) docteur",
         1.4),
        (Intent.SECRETARY, r"secretair\w*|secretariat|standard|operat(eur|rice)|accueil", 2.0),
        (Intent.SECRETARY, r"(parler|discuter) (a|avec) (quelqu un|une personne|un humain|"
                           r"une vraie personne|un etre humain|un conseiller|une conseillere|"
                           r"la secretaire|le secretariat|le docteur|la docteur|le medecin)", 2.0),
        (Intent.SECRETARY, r"quelqu un|une personne|un humain|vraie personne|en direct|"
                           r"pas un robot|pas une machine|une machine", 1.2),
        (Intent.PRESCRIPTION, r"ordonnance\w*|renouvel\w*|prescri\w*", 2.2),
        (Intent.PRESCRIPTION, r"medicament\w*|traitement|cachets|comprimes|pilule|"
                              r"plus de (mon|ma|mes)", 1.0),
        (Intent.RESULTS, r"resultat\w*|compte rendu|analyses?", 2.2),
        (Intent.RESULTS, r"prise de sang|bilan|radio|scanner|irm|echographie|examen|"
                         r"electrocardiogramme|biopsie|test|depistage|frottis", 1.0),
    ],
    "en": [
        (Intent.BOOK, rf"(book|make|schedule|get|arrange|set up|need|want|like) (an |a )?"
                      rf"(new |quick |first )?{_RDV_EN}", 2.0),
        (Intent.BOOK, rf"{_RDV_EN}", 0.6),
        (Intent.BOOK, r"(see|visit|consult|come and see) (the|a|my) (doctor|gp|nurse|"
                      r"physician|specialist|physio)|(see|visit) (dr|doctor) \w+", 1.2),
        (Intent.BOOK, r"book|booking|available|availability|come in|get seen|be seen", 1.0),
        (Intent.CANCEL, r"cancel\w*|call off", 2.0),
        (Intent.CANCEL, r"(can not|will not be able to|not be able to|unable to|could not) "
                        r"(make it|come|attend|be there)|(do not|no longer) need (the|my) "
                        r"(appointment|slot)", 2.0),
        (Intent.RESCHEDULE, r"reschedul\w*|re schedul\w*|rebook\w*|postpon\w*|"
                            r"bring (it |my appointment )?forward|push (it |my appointment )?"
                            r"back|move|moving|change|changing", 2.6),
        (Intent.RESCHEDULE, r"(another|a different|a later|an earlier|other) (day|date|time|"
                            r"slot)", 1.4),
        (Intent.RESCHEDULE, r"(book|make|get|take) (another|a new) (one|appointment|slot)", 2.6),
        (Intent.CONFIRM_APPOINTMENT, r"confirm\w*|double check|check\w* (my|on my|the) "
                                     r"(appointment|booking)", 2.4),
        (Intent.CONFIRM_APPOINTMENT, r"(what time|when|which day) is (my|the) (appointment|"
                                     r"booking)|(appointment|booking) (still|is still) "
                                     r"(on|valid|booked)|still (on|booked)", 2.6),
        (Intent.CONFIRM_APPOINTMENT, r"remind me|i have (an|my) appointment", 1.0),
        (Intent.MESSAGE, r"leave (a|my|him a|her a) message|(a|the) message for|"
                         r"pass (on )?a message|take a message", 2.6),
        (Intent.MESSAGE, r"message|voicemail|let (the doctor|him|her|dr \w+) know|"
                         r"tell (the doctor|dr \w+|him|her)|call me back|ring me back", 1.4),
        (Intent.SECRETARY, r"secretary|receptionist|reception|operator|front desk|"
                           r"switchboard", 2.0),
        (Intent.SECRETARY, r"(speak|talk) (to|with) (someone|somebody|a person|a human|"
                           r"a real person|a member of staff|the doctor|staff|anyone)", 2.0),
        (Intent.SECRETARY, r"someone|somebody|a person|human|real person|not a robot|"
                           r"a machine", 1.2),
        (Intent.PRESCRIPTION, r"prescription\w*|refill\w*|renew\w*|repeat (prescription|"
                              r"medication)|top up", 2.2),
        (Intent.PRESCRIPTION, r"medication|medicine|meds|pills|tablets|inhaler|run out|"
                              r"running out|ran out", 1.0),
        (Intent.RESULTS, r"results?|report", 2.2),
        (Intent.RESULTS, r"blood (test|work)|scan|x ray|mri|ultrasound|biopsy|test|smear|"
                         r"lab", 1.0),
    ],
}

_COMPILED = {
    lang: [(intent, re.compile(r"\b(?:" + fold(rx) + r")\b"), w) for intent, rx, w in rows]
    for lang, rows in INTENT_TABLE.items()
}


@dataclass(frozen=True)
class IntentScores:
    """Best intent (None if nothing reached MIN_SCORE) and every intent's score."""

    best: Intent | None
    scores: dict[Intent, float]
    emergency_score: float

    @property
    def confidence(self) -> float:
        """0..1: how clearly the best intent beat the others."""
        if self.best is None:
            return 0.0
        if self.best is Intent.EMERGENCY:
            return min(1.0, 0.6 + 0.2 * self.emergency_score)
        ranked = sorted(self.scores.values(), reverse=True)
        top, second = ranked[0], (ranked[1] if len(ranked) > 1 else 0.0)
        return round(min(1.0, top / 3.0) * (1.0 - 0.5 * second / top), 3)


def score_intents(text: str, lang: str,
                  detector: EmergencyDetector = DEFAULT_DETECTOR) -> IntentScores:
    """Scores of every intent for `text`; EMERGENCY wins whenever the detector fires."""
    verdict = detector.assess(text, lang)
    s = folded(text, lang)
    scores: dict[Intent, float] = {}
    for intent, rx, weight in _COMPILED.get(lang, _COMPILED["fr"]):
        if rx.search(s):
            scores[intent] = scores.get(intent, 0.0) + weight
    information = sum(topic_scores(text, lang).values())
    if asks_general_information(text, lang):
        information += GENERAL_INFORMATION_WEIGHT
    if information:
        scores[Intent.INFORMATION] = information
    if verdict.is_emergency:
        return IntentScores(Intent.EMERGENCY, scores, verdict.score)
    best = max(scores, key=lambda k: scores[k], default=None)
    if best is not None and scores[best] < MIN_SCORE:
        best = None
    return IntentScores(best, scores, verdict.score)


def detect_intent(text: str, lang: str,
                  detector: EmergencyDetector = DEFAULT_DETECTOR) -> Intent | None:
    """The caller's intent ("je voudrais déplacer mon rendez-vous" -> RESCHEDULE), or None."""
    return score_intents(text, lang, detector).best
