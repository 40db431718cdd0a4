"""Clock times said aloud: "quatorze heures", "10h30", "onze heures moins le quart",
"half past ten", "three pm", "ten thirty".

A bare hour from 1 to 6 with nothing saying morning is read as afternoon (13:00 to 18:00):
callers of a practice mean "à deux heures" as 14:00.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from ivr_flows.understanding.normalise import words
from ivr_flows.understanding.numbers import NumberSpan, find_numbers, merge_leading_zeros

HOUR_WORDS = {"fr": ("h", "heure", "heures"), "en": ("h", "hour", "hours")}
AM_MARKERS = {
    "fr": (("du", "matin"), ("le", "matin"), ("ce", "matin")),
    "en": (("am",), ("a", "m"), ("in", "the", "morning"), ("this", "morning")),
}
PM_MARKERS = {
    "fr": (("de", "l", "apres", "midi"), ("l", "apres", "midi"), ("apres", "midi"),
           ("du", "soir"), ("le", "soir"), ("ce", "soir")),
    "en": (("pm",), ("p", "m"), ("in", "the", "afternoon"), ("in", "the", "evening"),
           ("this", "afternoon"), ("this", "evening"), ("tonight",), ("at", "night")),
}
EN_HOUR_LEADS = frozenset({"at", "around", "about", "by", "after", "before", "for", "till",
                           "until", "from"})


@dataclass(frozen=True)
class TimeSpan:
    """A clock time found at tokens [start, end); `meridiem` is "am"/"pm" when said."""

    value: time
    start: int
    end: int
    meridiem: str | None


def _at(t: tuple[str, ...], k: int, seq: tuple[str, ...]) -> bool:
    return tuple(t[k:k + len(seq)]) == seq


def _meridiem(t: tuple[str, ...], k: int, lang: str) -> tuple[str | None, int]:
    """am/pm said in the next few tokens from k, and where the time phrase ends."""
    for offset in range(3):
        for markers, label in ((AM_MARKERS, "am"), (PM_MARKERS, "pm")):
            for seq in markers.get(lang, ()):
                if _at(t, k + offset, seq):
                    return label, k + offset + len(seq)
    return None, k


def _meridiem_here(t: tuple[str, ...], k: int, lang: str) -> bool:
    markers = AM_MARKERS.get(lang, ()) + PM_MARKERS.get(lang, ())
    return any(_at(t, k, seq) for seq in markers)


def _build(hour: int, minute: int, meridiem: str | None) -> time | None:
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    elif meridiem is None and 1 <= hour <= 6:
        hour += 12
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return time(hour % 24, minute)


def _minutes_after(t, k, span_at, lang) -> tuple[int, int, int]:
    """(minute, hour shift, next index) for what follows an hour."""
    if lang == "fr":
        if _at(t, k, ("et", "demie")) or _at(t, k, ("et", "demi")):
            return 30, 0, k + 2
        if _at(t, k, ("et", "quart")):
            return 15, 0, k + 2
        if _at(t, k, ("moins", "le", "quart")):
            return 45, -1, k + 3
        if _at(t, k, ("moins", "quart")):
            return 45, -1, k + 2
        if _at(t, k, ("moins",)) and span_at.get(k + 1) and span_at[k + 1].value < 60:
            return 60 - span_at[k + 1].value, -1, span_at[k + 1].end
    else:
        if _at(t, k, ("and", "a", "half")):
            return 30, 0, k + 3
    minute_span = span_at.get(k)
    if minute_span and minute_span.value < 60 and not minute_span.ordinal:
        end = minute_span.end
        if end < len(t) and t[end] in ("minutes", "minute", "min"):
            end += 1
        return minute_span.value, 0, end
    return 0, 0, k


def _fr_noon(t, i, span_at) -> TimeSpan | None:
    w = t[i]
    if w not in ("midi", "minuit") or (i > 0 and t[i - 1] == "apres"):
        return None
    hour = 12 if w == "midi" else 0
    minute, shift, end = _minutes_after(t, i + 1, span_at, "fr")
    return TimeSpan(time((hour + shift) % 24, minute), i, end, None)


def _en_clock_words(t, i, span_at) -> TimeSpan | None:
    w = t[i]
    if w in ("noon", "midday", "midnight"):
        return TimeSpan(time(12 if w != "midnight" else 0, 0), i, i + 1, None)
    minute = None
    k = i
    if _at(t, i, ("half", "past")):
        minute, k = 30, i + 2
    elif _at(t, i, ("quarter", "past")) or _at(t, i, ("a", "quarter", "past")):
        minute, k = 15, i + 2 + (t[i] == "a")
    elif _at(t, i, ("quarter", "to")) or _at(t, i, ("a", "quarter", "to")):
        minute, k = -15, i + 2 + (t[i] == "a")
    elif i in span_at and span_at[i].value < 60:
        s = span_at[i]
        k = s.end + (s.end < len(t) and t[s.end] in ("minutes", "minute"))
        if k < len(t) and t[k] in ("past", "after", "to") and k + 1 in span_at:
            minute = s.value if t[k] != "to" else -s.value
            k += 1
    if minute is None or k not in span_at or span_at[k].value > 12:
        return None
    hour_span = span_at[k]
    hour = hour_span.value
    if minute < 0:
        hour, minute = hour - 1, 60 + minute
    meridiem, end = _meridiem(t, hour_span.end, "en")
    value = _build(hour % 24, minute, meridiem)
    return TimeSpan(value, i, max(end, hour_span.end), meridiem) if value else None


def _hour_first(t, i, span_at, lang) -> TimeSpan | None:
    s = span_at.get(i)
    if s is None or s.value > 24 or s.ordinal:
        return None
    k = s.end
    hour_marked = k < len(t) and t[k] in HOUR_WORDS[lang]
    if hour_marked:
        minute, shift, k = _minutes_after(t, k + 1, span_at, lang)
    elif lang == "en" and _at(t, k, ("o", "clock")):
        minute, shift, k = 0, 0, k + 2
    elif lang == "en" and k in span_at and 0 <= span_at[k].value < 60 and s.value <= 12 \
            and len(span_at[k].digits) == 2 and s.spoken == span_at[k].spoken:
        minute, shift, k = span_at[k].value, 0, span_at[k].end
    elif lang == "en" and (_meridiem_here(t, k, "en")
                           or (i > 0 and t[i - 1] in EN_HOUR_LEADS and s.value <= 12)):
        minute, shift = 0, 0
    else:
        return None
    meridiem, end = _meridiem(t, k, lang)
    if s.value > 12:
        meridiem = None
    value = _build((s.value + shift) % 24, minute, meridiem)
    return TimeSpan(value, i, max(end, k), meridiem) if value else None


def find_time(t: tuple[str, ...], lang: str) -> TimeSpan | None:
    """The first clock time in the tokens."""
    spans: list[NumberSpan] = merge_leading_zeros(find_numbers(t, lang, zero_words=lang == "en"))
    span_at = {s.start: s for s in spans}
    for i in range(len(t)):
        found = _fr_noon(t, i, span_at) if lang == "fr" else _en_clock_words(t, i, span_at)
        if found is None:
            found = _hour_first(t, i, span_at, lang)
        if found is not None:
            return found
    return None


def parse_time(text: str, lang: str) -> time | None:
    """The clock time said in `text` ("à quatorze heures" -> 14:00), or None."""
    found = find_time(words(text, lang), lang)
    return found.value if found else None
