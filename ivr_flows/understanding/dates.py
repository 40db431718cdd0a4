"""Calendar dates said aloud: birth dates, and day-month mentions used by `when`.

Order of day and month: both languages read numeric dates day first ("12/03/1985" is
12 March), as callers of a French practice do; in English a numeric date whose second
part cannot be a month while the first can ("3/25/1985") is read month first (US).
Two-digit years go to the latest century that does not put the birth in the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ivr_flows.understanding.normalise import words
from ivr_flows.understanding.numbers import (
    NumberSpan,
    combine_year,
    find_numbers,
    merge_leading_zeros,
    split_span,
)

MONTHS = {
    "fr": {
        "janvier": 1, "janv": 1, "fevrier": 2, "fevr": 2, "fev": 2, "mars": 3, "avril": 4,
        "avr": 4, "mai": 5, "juin": 6, "juillet": 7, "juil": 7, "aout": 8, "septembre": 9,
        "octobre": 10, "novembre": 11, "decembre": 12, "dec": 12,
    },
    "en": {
        "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
        "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
        "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11,
        "nov": 11, "december": 12, "dec": 12,
    },
}
MAX_AGE_YEARS = 130


@dataclass(frozen=True)
class _Month:
    value: int
    start: int


@dataclass(frozen=True)
class DayMonth:
    """A day and month (and year when said) found in an utterance, with its token span."""

    day: int
    month: int
    year: int | None
    year_digits: int
    start: int
    end: int


def _items(t: tuple[str, ...], lang: str) -> list[NumberSpan | _Month]:
    months = MONTHS.get(lang, MONTHS["fr"])
    spans = find_numbers(t, lang, zero_words=lang == "en")
    if lang == "en":
        spans = [s for s in spans if t[s.start] not in ("o", "oh")
                 or any(o.start == s.end for o in spans)]
    items: list[NumberSpan | _Month] = list(merge_leading_zeros(spans))
    taken = {i for s in spans for i in range(s.start, s.end)}
    for i, w in enumerate(t):
        if w in months and i not in taken:
            items.append(_Month(months[w], i))
    items.sort(key=lambda x: x.start)
    return items


def _split_packed(span: NumberSpan) -> list[NumberSpan] | None:
    """"12031985" / "120385" said as one block of digits -> day, month, year parts."""
    d = span.digits
    if span.spoken or len(d) not in (6, 8):
        return None
    cuts = [(0, 2), (2, 4), (4, len(d))]
    return [NumberSpan(span.start, span.end, int(d[a:b]), d[a:b], False) for a, b in cuts]


def _year(parts: list[NumberSpan]) -> tuple[int, int] | None:
    """(year, digits said) from the number groups after the month."""
    if not parts:
        return None
    if len(parts) == 1:
        p = parts[0]
        n_digits = 2 if p.value < 100 else 4
        if not p.spoken and len(p.digits) == 2:
            n_digits = 2
        return p.value, n_digits
    combined = combine_year(parts)
    if combined is not None:
        return combined, 4
    if all(p.spoken for p in parts):
        digits = "".join(p.digits for p in parts)
        if len(digits) == 2:
            return int(digits), 2
    return None


def find_day_month(t: tuple[str, ...], lang: str) -> DayMonth | None:
    """The first "day month [year]" (or "month day [year]") in the tokens."""
    items = _items(t, lang)
    for k, item in enumerate(items):
        if not isinstance(item, _Month):
            continue
        before = items[k - 1] if k > 0 else None
        after = [x for x in items[k + 1:]]
        nums_after: list[NumberSpan] = []
        for x in after:
            if isinstance(x, _Month):
                break
            if nums_after and nums_after[-1].end != x.start and nums_after[-1].end + 1 != x.start:
                break
            nums_after.append(x)
        day: NumberSpan | None = None
        start = item.start
        if isinstance(before, NumberSpan) and 1 <= before.value <= 31 \
                and before.end >= item.start - 2:
            day, start = before, before.start
        elif nums_after and 1 <= nums_after[0].value <= 31 and (
                nums_after[0].ordinal or lang == "en"):
            day, nums_after = nums_after[0], nums_after[1:]
        if day is None:
            continue
        year = _year(nums_after) if nums_after else None
        end = nums_after[-1].end if nums_after and year else max(item.start + 1, day.end)
        return DayMonth(day.value, item.value, year[0] if year else None,
                        year[1] if year else 0, start, end)
    return None


def _split_big(t: tuple[str, ...], items: list[NumberSpan], lang: str) -> list[NumberSpan]:
    """Cut greedy groups that swallowed the day or month ("douze mille neuf cent...")."""
    out: list[NumberSpan] = []
    for span in items:
        if span.spoken and span.value > 31 and len(out) < 2:
            parts = split_span(t, span, lang, 31)
            if parts:
                out.extend(parts)
                continue
        out.append(span)
    return out


def _numeric_date(items: list[NumberSpan], lang: str) -> tuple[int, int, int, int] | None:
    """(day, month, year, year digits) from numbers only: "12 03 85", "douze trois ..."."""
    if len(items) == 1:
        packed = _split_packed(items[0])
        if packed is None:
            return None
        items = packed
    if len(items) < 3:
        return None
    first = items[0]
    if not first.spoken and len(first.digits) == 4 and len(items) == 3:
        return items[2].value, items[1].value, first.value, 4
    year = _year(items[2:])
    if year is None:
        return None
    day, month = items[0].value, items[1].value
    if lang == "en" and month > 12 >= day:
        day, month = month, day
    return day, month, year[0], year[1]


def _resolve(day: int, month: int, year: int, year_digits: int, today: date) -> date | None:
    if year_digits == 2 or year < 100:
        year = (today.year // 100) * 100 + year % 100
        try:
            if date(year, month, day) > today:
                year -= 100
        except ValueError:
            return None
    try:
        born = date(year, month, day)
    except ValueError:
        return None
    if born > today or born.year < today.year - MAX_AGE_YEARS:
        return None
    return born


def parse_birth_date(text: str, lang: str, today: date | None = None) -> date | None:
    """A birth date in any common spoken or written form, or None.

    "le 12 mars 1985", "douze trois quatre-vingt-cinq", "12/03/1985",
    "March the twelfth, nineteen eighty-five", "premier avril deux mille un". Impossible
    dates (31 février), future dates and dates more than 130 years back give None.
    """
    today = today or date.today()
    t = words(text, lang)
    found = find_day_month(t, lang)
    if found is not None and found.year is not None:
        return _resolve(found.day, found.month, found.year, found.year_digits, today)
    items = _items(t, lang)
    if found is not None and lang == "en" and not any(
            isinstance(x, _Month) and t[x.start] != "may" for x in items):
        found = None  # "may I give you ... twelve three eighty five": a verb, not a month
    if found is not None:
        return None
    nums = _split_big(t, [x for x in items if isinstance(x, NumberSpan)], lang)
    numeric = _numeric_date(nums, lang)
    if numeric is None:
        return None
    return _resolve(*numeric, today)
