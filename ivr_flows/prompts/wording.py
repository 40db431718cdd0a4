"""How run-time values are said: dates, times, numbers, appointments, lists, opening hours.

Each value becomes a list of :class:`Fragment`. A *shared* fragment is a word from a small fixed
vocabulary (a weekday, a month, a number): its audio may be cached on disk. Anything else (a
doctor's or patient's name, a label) is not shared and is only ever synthesised in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

WEEKDAYS = {
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTHS = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}


@dataclass(frozen=True)
class Fragment:
    text: str
    shared: bool = True  # from a fixed vocabulary: safe to cache on disk


@dataclass(frozen=True)
class Words:
    """A value already worded by whoever fills the prompt (said as these fragments)."""

    fragments: tuple[Fragment, ...]


def _ordinal_en(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def say_date(day: date, language: str) -> list[Fragment]:
    """fr: "le mardi 3 décembre"; en: "Tuesday the 3rd of December"."""
    weekday = WEEKDAYS[language][day.weekday()]
    month = MONTHS[language][day.month - 1]
    if language == "fr":
        number = "premier" if day.day == 1 else str(day.day)
        return [Fragment("le"), Fragment(weekday), Fragment(number), Fragment(month)]
    return [Fragment(weekday), Fragment("the"), Fragment(_ordinal_en(day.day)), Fragment("of"),
            Fragment(month)]


def say_clock(moment: time, language: str) -> list[Fragment]:
    """A time without a preposition. fr: "10 heures 30"; en: "10 30 in the morning"."""
    hour, minute = moment.hour, moment.minute
    if language == "fr":
        parts = [Fragment(str(hour)), Fragment("heure" if hour in (0, 1) else "heures")]
        return parts + ([Fragment(str(minute))] if minute else [])
    twelve = hour % 12 or 12
    if minute == 0:
        said = [Fragment(str(twelve)), Fragment("o'clock")]
    elif minute < 10:
        said = [Fragment(str(twelve)), Fragment("oh"), Fragment(str(minute))]
    else:
        said = [Fragment(str(twelve)), Fragment(str(minute))]
    part = "in the morning" if hour < 12 else "in the afternoon" if hour < 18 else "in the evening"
    return [*said, Fragment(part)]


def say_time(moment: time, language: str) -> list[Fragment]:
    """fr: "à 10 heures 30"; en: "at 10 30 in the morning"."""
    return [Fragment("à" if language == "fr" else "at"), *say_clock(moment, language)]


def say_moment(moment: datetime, language: str) -> list[Fragment]:
    return say_date(moment.date(), language) + say_time(moment.time(), language)


def say_hours(hours: Mapping[int, Sequence[tuple[time, time]]], language: str) -> list[Fragment]:
    """Opening hours by weekday: "lundi de 9 heures à 12 heures, et de 14 heures à 18 heures"."""
    said: list[Fragment] = []
    word_from, word_to, word_and = ("de", "à", "et") if language == "fr" else ("from", "to", "and")
    for weekday in sorted(hours):
        ranges = list(hours[weekday])
        if not ranges:
            continue
        if said:
            said.append(Fragment(";", shared=True))
        said.append(Fragment(WEEKDAYS[language][weekday]))
        for index, (start, end) in enumerate(ranges):
            if index:
                said.append(Fragment(word_and))
            said += [Fragment(word_from), *say_clock(start, language), Fragment(word_to),
                     *say_clock(end, language)]
    return said


def say_value(value: Any, language: str) -> list[Fragment]:
    """Any value a flow hands to a prompt, as fragments to say."""
    if value is None:
        return []
    if isinstance(value, Words):
        return list(value.fragments)
    if isinstance(value, bool):
        return [Fragment(("oui" if value else "non") if language == "fr" else
                         ("yes" if value else "no"))]
    if isinstance(value, int):
        return [Fragment(str(value))]
    if isinstance(value, datetime):
        return say_moment(value, language)
    if isinstance(value, date):
        return say_date(value, language)
    if isinstance(value, time):
        return say_time(value, language)
    if isinstance(value, str):
        return [Fragment(value, shared=False)]
    if hasattr(value, "local_start"):  # a slot or an appointment
        said = say_moment(value.local_start, language)
        name = getattr(value, "practitioner_name", None)
        if name:
            said += [Fragment("avec" if language == "fr" else "with"), Fragment(name, False)]
        return said
    if isinstance(value, Mapping):
        return say_hours(value, language)
    if isinstance(value, Sequence):
        said = []
        for number, item in enumerate(value, start=1):
            number_said = f"{number} :" if language == "fr" else f"{number}:"  # typography
            said += [Fragment(number_said), *say_value(item, language), Fragment(".")]
        return said
    return [Fragment(str(value), shared=False)]


def joined(texts: Iterable[str], language: str) -> str:
    """Words and marks as one line of text: a text starting with a mark that the language
    writes without a space before it (French keeps its space before ? ! :) ends the one
    before; empty texts are left out."""
    attached = ".,;" if language == "fr" else ".,;?!:"
    line = ""
    for text in texts:
        if text:
            line = line + text if not line or text[0] in attached else f"{line} {text}"
    return line


def as_text(fragments: Sequence[Fragment], language: str) -> str:
    """The fragments as one line of text (for the text simulator and prompt keys)."""
    return joined((f.text for f in fragments), language)
