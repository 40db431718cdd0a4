"""The one place where the flows ask :mod:`ivr_flows.understanding` what a caller meant.

Steps speak in outcome words ("book", "yes", "morning"); this module turns recognised
text into those words, so a change in the understanding package touches only this file.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ivr_flows.understanding import (
    detect_intent,
    normalise,
    parse_birth_date,
    parse_digits,
    parse_number,
    parse_spelled_name,
    parse_when,
    parse_yes_no,
    wants_soonest,
)
from ivr_flows.understanding import (
    is_emergency as heard_emergency,
)
from ivr_flows.understanding.information import InformationRequest
from ivr_flows.understanding.information import information_request as ask_information
from ivr_flows.understanding.language import detect_language, leans_to_other
from ivr_flows.understanding.language import language_switch as switch_to
from ivr_flows.understanding.normalise import folded

# Outcome words a flow can ``expect`` from an ``ask`` step, and the intent each one is.
INTENT_WORDS: dict[str, str] = {
    "book": "BOOK",
    "cancel": "CANCEL",
    "reschedule": "RESCHEDULE",
    "confirm": "CONFIRM_APPOINTMENT",
    "message": "MESSAGE",
    "secretary": "SECRETARY",
    "prescription": "PRESCRIPTION",
    "results": "RESULTS",
    "information": "INFORMATION",  # hours, address, doctors, new patients
}
ANSWER_WORDS = ("yes", "no")
LANGUAGE_WORDS = ("fr", "en")
EXPECTABLE = tuple(INTENT_WORDS) + ANSWER_WORDS + LANGUAGE_WORDS

_LANGUAGE_NAMES = {
    "fr": ("francais", "french", "france"),
    "en": ("anglais", "english", "inglish", "angleterre"),
}


def is_emergency(text: str, language: str) -> bool:
    """An emergency, heard in the language the caller's words lean to ("my husband has
    chest pain" in a French call, "c'est pas urgent" in an English one), else the call's."""
    return bool(heard_emergency(text, leans_to_other(text, language) or language))


def detected_language(text: str) -> str | None:
    """"fr" or "en" when the caller clearly speaks it (a sentence), else None."""
    return detect_language(text)


def language_switch(text: str, current: str) -> str | None:
    """The language the call should switch to ("fr"/"en") when the caller clearly speaks
    another than ``current``; None for short or ambiguous words ("OK", "Moreau")."""
    return switch_to(text, current)


def intent_word(text: str, language: str) -> str | None:
    """The outcome word of the caller's intent ("book", "cancel"...), or None."""
    found = detect_intent(text, language)
    if found is None:
        return None
    name = getattr(found, "name", str(found))
    for word, intent in INTENT_WORDS.items():
        if intent == name:
            return word
    return None


def information_request(text: str, language: str) -> InformationRequest:
    """What about the practice the caller asked (topics; every day's hours or not)."""
    return ask_information(text, language)


def asks_for_human(text: str, language: str) -> bool:
    """True when the caller asks for a person ("le secrétariat", "a human")."""
    return intent_word(text, language) == "secretary"


_NEW_PATIENT = {
    "fr": ("nouveau patient", "nouvelle patiente", "premiere fois", "jamais venu",
           "jamais venue", "pas encore patient", "pas encore patiente", "nouveau au cabinet",
           "nouvelle au cabinet", "pas de dossier"),
    "en": ("new patient", "first time", "never been", "not a patient yet", "not registered",
           "first visit", "first appointment"),
}


_NOT = {"fr": frozenset({"pas"}), "en": frozenset({"not"})}


def new_patient_said(text: str, language: str) -> bool | None:
    """True when the caller says they are new to the practice ("c'est la première fois"),
    False when they deny it ("ce n'est pas la première fois"), None when neither."""
    said = folded(text, language).split()
    negators = _NOT.get(language, frozenset())
    found: bool | None = None
    for phrase in _NEW_PATIENT.get(language, ()):
        wanted = phrase.split()
        for start in range(len(said) - len(wanted) + 1):
            if said[start:start + len(wanted)] == wanted:
                if not negators & set(said[max(0, start - 3):start]):
                    return True
                found = False
    return found


def says_new_patient(text: str, language: str) -> bool:
    """True when the caller says they are new to the practice (not when they deny it)."""
    return new_patient_said(text, language) is True


def yes_no(text: str, language: str) -> bool | None:
    return parse_yes_no(text, language)


def language_word(text: str) -> str | None:
    """'fr' or 'en' when the caller names a language (in either language)."""
    said = folded(text, "fr")
    for code, names in _LANGUAGE_NAMES.items():
        if any(name in said for name in names):
            return code
    return None


def expected_word(text: str, language: str, expect: tuple[str, ...]) -> str | None:
    """The first of ``expect`` that ``text`` means, or None."""
    if any(w in ANSWER_WORDS for w in expect):
        answer = yes_no(text, language)
        if answer is not None:
            word = "yes" if answer else "no"
            if word in expect:
                return word
    if any(w in LANGUAGE_WORDS for w in expect):
        lang = language_word(text)
        if lang in expect:
            return lang
    word = intent_word(text, language)
    return word if word in expect else None


def birth_date(text: str, language: str, today: date) -> date | None:
    return parse_birth_date(text, language, today)


def birth_date_from_keys(keys: str, today: date) -> date | None:
    """DDMMYYYY (or DDMMYY) typed on the keypad."""
    digits = keys.rstrip("#")
    if not digits.isdigit() or len(digits) not in (6, 8):
        return None
    day, month, year = int(digits[:2]), int(digits[2:4]), int(digits[4:])
    if len(digits) == 6:
        year += 1900 if year > today.year % 100 else 2000
    try:
        found = date(year, month, day)
    except ValueError:
        return None
    return found if found <= today else None


def digits(text: str, language: str) -> str | None:
    return parse_digits(text, language)


_ORDINALS = {
    "premier": 1, "premiere": 1, "first": 1, "deuxieme": 2, "second": 2, "seconde": 2,
    "troisieme": 3, "third": 3, "quatrieme": 4, "fourth": 4, "cinquieme": 5, "fifth": 5,
    "dernier": -1, "derniere": -1, "last": -1,
}


def number(text: str, language: str) -> int | None:
    """A choice said as a number or an ordinal ("deux", "le deuxième", "2"); -1 is "last"."""
    for word in folded(text, language).split():
        if word in _ORDINALS:
            return _ORDINALS[word]
    return parse_number(text, language)


def name(text: str, language: str) -> str | None:
    """A surname, spelled letter by letter or simply said."""
    spelled = parse_spelled_name(text, language)
    if spelled:
        return spelled
    cleaned = normalise(text, language).strip()
    return cleaned or None


def soonest(text: str, language: str) -> bool:
    """The caller takes the first free time, whatever the day ("dès que possible")."""
    return wants_soonest(text, language)


def when(text: str, language: str, now: datetime) -> tuple[date | None, str | None] | None:
    """(day, part of day) the caller prefers, either may be None; None if not understood."""
    found: Any = parse_when(text, language, now)
    if found is None:
        return None
    day = getattr(found, "day", None)
    if day is None and getattr(found, "earliest", None) is not None and found.weekday is not None:
        day = found.earliest.date()
    part = getattr(found, "part_of_day", None)
    if day is None and part is None:
        return None
    part_word = getattr(part, "value", part)
    if part_word not in (None, "morning", "afternoon"):
        part_word = "afternoon" if str(part_word) in ("evening", "late_afternoon") else None
    return day, part_word


def folded_text(text: str, language: str) -> str:
    """Lower-case, accent-free text for simple word matching."""
    return folded(text, language)
