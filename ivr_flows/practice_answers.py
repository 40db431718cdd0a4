"""What the engine tells a caller about the practice, as prompts: one answer per topic of
the ``information`` intent, and the short closed message.

Hours are today's and the next opening, never the whole week unless asked. Numbers are
said in the way people say them ("32 37", "116 117"). Pure: the practice, the moment and
the language in, a list of :class:`Prompt` out (the ``information`` step and the
``opening_hours`` step say them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time

from ivr_flows.channel import Prompt
from ivr_flows.opening import Hours
from ivr_flows.practice import Doctor, PracticeInfo
from ivr_flows.prompts.wording import WEEKDAYS, Fragment, Words, say_clock, say_date
from ivr_flows.understanding.information import Topic

_ARTICLES = ("le ", "la ", "les ", "l'", "l’")


def spoken_name(practice: PracticeInfo, language: str) -> str:
    """The practice as said in a sentence: its spoken name in French ("le cabinet médical
    des Tilleuls"); in English its name, without a leading French article."""
    name = practice.greeting_name
    if language != "fr":
        lowered = name.casefold()
        for article in _ARTICLES:
            if lowered.startswith(article) and practice.spoken_name:
                name = name[len(article):]
                break
        name = name[:1].upper() + name[1:]
    return name


def say_phone(number: str) -> Words:
    """A short number as people say it: "15", "112", "32 37", "116 117", "01 99 00 00 00"."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if number.strip().startswith("+") or len(digits) <= 3:
        groups = [digits] if len(digits) <= 3 else _pairs(digits)
    elif len(digits) == 6:
        groups = [digits[:3], digits[3:]]
    else:
        groups = _pairs(digits)
    return Words(tuple(Fragment(group) for group in groups))


def _pairs(digits: str) -> list[str]:
    start = len(digits) % 2
    return ([digits[:start]] if start else []) + [digits[i:i + 2]
                                                  for i in range(start, len(digits), 2)]


def say_windows(windows: Sequence[tuple[time, time]], language: str) -> Words:
    """ "de 8 heures 30 à 12 heures, et de 14 heures à 18 heures 30"."""
    word_from, word_to, word_and = ("de", "à", "et") if language == "fr" else (
        "from", "to", "and")
    said: list[Fragment] = []
    for index, (start, end) in enumerate(windows):
        if index:
            said += [Fragment(","), Fragment(word_and)]
        said += [Fragment(word_from), *say_clock(start, language), Fragment(word_to),
                 *say_clock(end, language)]
    return Words(tuple(said))


def say_when(moment: datetime, now: datetime, language: str) -> Words:
    """When, relative to now: "aujourd'hui à 14 heures", "demain à 8 heures 30", "lundi à
    ...", beyond a week "le lundi 5 janvier à ..."."""
    days = (moment.date() - now.astimezone(moment.tzinfo).date()).days
    at = Fragment("à" if language == "fr" else "at")
    clock = say_clock(moment.time(), language)
    if days == 0:
        day = [Fragment("aujourd'hui" if language == "fr" else "today")]
    elif days == 1:
        day = [Fragment("demain" if language == "fr" else "tomorrow")]
    elif days < 7:
        weekday = Fragment(WEEKDAYS[language][moment.weekday()])
        day = [weekday] if language == "fr" else [Fragment("on"), weekday]
    else:
        day = say_date(moment.date(), language)
        if language != "fr":
            day = [Fragment("on"), *day]
    return Words((*day, at, *clock))


def say_names(doctors: Sequence[Doctor], language: str) -> Words:
    """ "Docteure Claire Lambert et Docteur Julien Moreau" (names are not cached)."""
    said: list[Fragment] = []
    for index, doctor in enumerate(doctors):
        if index and index == len(doctors) - 1:
            said.append(Fragment("et" if language == "fr" else "and"))
        elif index:
            said.append(Fragment(","))
        said.append(Fragment(doctor.name, shared=False))
    return Words(tuple(said))


def hours_answer(practice: PracticeInfo, now: datetime, language: str, *,
                 hours: Hours | None = None, whole_week: bool = False) -> list[Prompt]:
    """Today's hours (or closed today) and, when closed now, the next opening; every
    day's hours first when ``whole_week``."""
    prompts = []
    if whole_week:
        week = practice.hours if hours is None else hours
        prompts.append(Prompt("info_hours_week", {"week": dict(week)}))
    today = practice.hours_today(now, hours)
    if today:
        prompts.append(Prompt("info_hours_today", {"windows": say_windows(today, language)}))
    else:
        prompts.append(Prompt("info_closed_today"))
    if not practice.is_open(now, hours):
        prompts += _next_opening(practice, now, hours, language)
    return prompts


def closed_message(practice: PracticeInfo, now: datetime, language: str, *,
                   hours: Hours | None = None) -> list[Prompt]:
    """The line is closed: that, when it opens next, and what to do in an emergency."""
    return [Prompt("info_closed_now"), *_next_opening(practice, now, hours, language),
            *emergency_answer(practice, brief=True)]


def _next_opening(practice: PracticeInfo, now: datetime, hours: Hours | None,
                  language: str) -> list[Prompt]:
    opens = practice.next_opening(now, hours)
    if opens is None:
        return [Prompt("info_no_next_opening")]
    return [Prompt("info_next_opening", {"moment": say_when(opens, now, language)})]


def address_answer(practice: PracticeInfo) -> list[Prompt]:
    if not practice.address and not practice.access:
        return [Prompt("info_ask_secretary")]
    prompts = []
    if practice.address:
        prompts.append(Prompt("info_address", {"address": practice.address}))
    if practice.access:
        prompts.append(Prompt("info_access", {"access": practice.access}))
    return prompts


def doctors_answer(practice: PracticeInfo, language: str) -> list[Prompt]:
    if not practice.doctors:
        return [Prompt("info_ask_secretary")]
    return [Prompt("info_doctors", {"doctors": say_names(practice.doctors, language)})]


def new_patients_answer(practice: PracticeInfo, language: str) -> list[Prompt]:
    """Whether new patients are taken, and by whom (when not every doctor takes them)."""
    taking = practice.new_patient_doctors
    if not taking:
        return [Prompt("info_new_patients_no")]
    if len(taking) == len(practice.doctors):
        return [Prompt("info_new_patients_yes")]
    return [Prompt("info_new_patients_with", {"doctors": say_names(taking, language)})]


def emergency_answer(practice: PracticeInfo, *, brief: bool = False) -> list[Prompt]:
    """15 or 112 for a life-threatening emergency; then the practice's on-call doctor,
    SOS Médecins and the pharmacy on duty when it has them (``brief``, for the closed
    message: the on-call line, else SOS Médecins, and no pharmacy)."""
    prompts = [Prompt("info_emergency", {"samu": say_phone(practice.samu_number),
                                         "emergency": say_phone(practice.emergency_number)})]
    if practice.on_call_number:
        prompts.append(Prompt("info_on_call", {"number": say_phone(practice.on_call_number)}))
    if practice.sos_medecins_number and not (brief and practice.on_call_number):
        prompts.append(Prompt("info_sos_medecins",
                              {"number": say_phone(practice.sos_medecins_number)}))
    if practice.pharmacy_number and not brief:
        prompts.append(Prompt("info_pharmacy", {"number": say_phone(practice.pharmacy_number)}))
    return prompts


def answer(practice: PracticeInfo, topic: Topic, now: datetime, language: str, *,
           hours: Hours | None = None, whole_week: bool = False) -> list[Prompt]:
    """The prompts that answer ``topic`` in ``language``."""
    if topic is Topic.HOURS:
        return hours_answer(practice, now, language, hours=hours, whole_week=whole_week)
    if topic is Topic.ADDRESS:
        return address_answer(practice)
    if topic is Topic.DOCTORS:
        return doctors_answer(practice, language)
    if topic is Topic.NEW_PATIENTS:
        return new_patients_answer(practice, language)
    return emergency_answer(practice)


# Every prompt id an answer may use (the information step declares them).
PROMPTS = (
    "info_hours_week", "info_hours_today", "info_closed_today", "info_closed_now",
    "info_next_opening", "info_no_next_opening", "info_address", "info_access",
    "info_ask_secretary", "info_doctors", "info_new_patients_no", "info_new_patients_yes",
    "info_new_patients_with", "info_emergency", "info_on_call", "info_sos_medecins",
    "info_pharmacy",
)
CLOSED_PROMPTS = ("info_closed_now", "info_next_opening", "info_no_next_opening",
                  "info_emergency", "info_on_call", "info_sos_medecins")
