"""Numbers said in words or digits, French and English.

The parsers work on accent-folded tokens (see `normalise.words`). `find_numbers` cuts a
token sequence into number groups, each the longest well-formed number starting there
("zero six douze trente quatre" -> 0, 6, 12, 34), which is what digit dictation, dates
and times are built from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from ivr_flows.understanding.normalise import words

FR_UNITS = {
    "zero": 0, "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6,
    "sept": 7, "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13,
    "quatorze": 14, "quinze": 15, "seize": 16,
}
FR_TENS = {
    "vingt": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60,
    "septante": 70, "huitante": 80, "octante": 80, "nonante": 90,
}
FR_ORDINALS = {"premier": 1, "premiere": 1, "1er": 1}
FR_HUNDRED = frozenset({"cent", "cents"})
FR_THOUSAND = frozenset({"mille", "mil", "milles"})
FR_MILLION = frozenset({"million", "millions"})

EN_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}
EN_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}
EN_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17,
    "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}
EN_ZERO_WORDS = frozenset({"oh", "o"})
EN_HUNDRED = frozenset({"hundred", "hundreds"})
EN_THOUSAND = frozenset({"thousand"})
EN_MILLION = frozenset({"million", "millions"})
ORDINAL_SUFFIXES = frozenset({"er", "ere", "eme", "e", "st", "nd", "rd", "th"})


@dataclass(frozen=True)
class NumberSpan:
    """One number found in a token sequence: tokens [start, end), its value, how said."""

    start: int
    end: int
    value: int
    digits: str
    spoken: bool
    ordinal: bool = False


# ---------------------------------------------------------------- French grammar

def _fr_one_to_nineteen(t: tuple[str, ...], i: int) -> tuple[int, int] | None:
    """1..19 after "soixante" / "quatre vingt" (with an optional "et")."""
    if i < len(t) and t[i] == "et":
        i += 1
    if i >= len(t):
        return None
    w = t[i]
    nxt = t[i + 1] if i + 1 < len(t) else ""
    if w == "dix" and nxt in ("sept", "huit", "neuf"):
        return 10 + FR_UNITS[nxt], i + 2
    if w == "quatre" and nxt in ("vingt", "vingts"):
        return None
    if w in FR_UNITS and FR_UNITS[w] >= 1:
        return FR_UNITS[w], i + 1
    return None


def _fr_below_100(t: tuple[str, ...], i: int) -> tuple[int, int, bool] | None:
    """(value, next index, ordinal) for 0..99 at t[i]."""
    if i >= len(t):
        return None
    w = t[i]
    nxt = t[i + 1] if i + 1 < len(t) else ""
    if w in FR_ORDINALS:
        return 1, i + 1, True
    if w == "quatre" and nxt in ("vingt", "vingts"):
        rest = _fr_one_to_nineteen(t, i + 2)
        return (80 + rest[0], rest[1], False) if rest else (80, i + 2, False)
    if w == "dix" and nxt in ("sept", "huit", "neuf"):
        return 10 + FR_UNITS[nxt], i + 2, False
    if w in FR_UNITS:
        return FR_UNITS[w], i + 1, False
    if w in FR_TENS:
        base = FR_TENS[w]
        j = i + 1
        if base == 60:
            rest = _fr_one_to_nineteen(t, j)
            return (60 + rest[0], rest[1], False) if rest else (60, j, False)
        if nxt == "et" and j + 1 < len(t) and t[j + 1] in ("un", "une"):
            return base + 1, j + 2, False
        if nxt == "et" and j + 1 < len(t) and t[j + 1] in FR_ORDINALS:
            return base + 1, j + 2, True
        if nxt in FR_UNITS and 1 <= FR_UNITS[nxt] <= 9:
            after = t[j + 1] if j + 1 < len(t) else ""
            if not (nxt == "quatre" and after in ("vingt", "vingts")):
                return base + FR_UNITS[nxt], j + 1, False
        return base, j, False
    return None


def _below_1000(t, i, below_100, hundred_words) -> tuple[int, int, bool] | None:
    if i < len(t) and t[i] in hundred_words:
        value, j = 100, i + 1
    else:
        first = below_100(t, i)
        if first is None:
            return None
        v, j, ordinal = first
        if not (j < len(t) and t[j] in hundred_words and 1 <= v <= 99) or ordinal:
            return first
        value, j = v * 100, j + 1
    if j < len(t) and t[j] == "and":
        rest = below_100(t, j + 1)
        if rest and rest[0] > 0:
            return value + rest[0], rest[1], rest[2]
        return value, j, False
    rest = below_100(t, j)
    if rest and rest[0] > 0:
        return value + rest[0], rest[1], rest[2]
    return value, j, False


def _full(t, i, below_100, hundred_words, thousand_words, million_words):
    total = 0
    j = i
    for scale, scale_words in ((1_000_000, million_words), (1000, thousand_words)):
        if j < len(t) and t[j] in scale_words:
            total += scale
            j += 1
            continue
        part = _below_1000(t, j, below_100, hundred_words)
        if part and part[0] > 0 and not part[2] and part[1] < len(t) \
                and t[part[1]] in scale_words:
            total += part[0] * scale
            j = part[1] + 1
            if j < len(t) and t[j] == "and":
                nxt = _below_1000(t, j + 1, below_100, hundred_words)
                if nxt and nxt[0] > 0:
                    j += 1
    if j == i:
        return _below_1000(t, i, below_100, hundred_words)
    rest = _below_1000(t, j, below_100, hundred_words)
    if rest and rest[0] > 0:
        return total + rest[0], rest[1], rest[2]
    return total, j, False


# ---------------------------------------------------------------- English grammar

def _en_below_100(t: tuple[str, ...], i: int) -> tuple[int, int, bool] | None:
    if i >= len(t):
        return None
    w = t[i]
    nxt = t[i + 1] if i + 1 < len(t) else ""
    if w in EN_ORDINALS:
        return EN_ORDINALS[w], i + 1, True
    if w in EN_UNITS:
        return EN_UNITS[w], i + 1, False
    if w in EN_TENS:
        base = EN_TENS[w]
        if nxt in EN_UNITS and 1 <= EN_UNITS[nxt] <= 9:
            return base + EN_UNITS[nxt], i + 2, False
        if nxt in EN_ORDINALS and 1 <= EN_ORDINALS[nxt] <= 9:
            return base + EN_ORDINALS[nxt], i + 2, True
        return base, i + 1, False
    return None


def _en_parse(t: tuple[str, ...], i: int) -> tuple[int, int, bool] | None:
    if i < len(t) and t[i] == "a" and i + 1 < len(t) \
            and (t[i + 1] in EN_HUNDRED or t[i + 1] in EN_THOUSAND):
        parsed = _full(t, i + 1, _en_below_100, EN_HUNDRED, EN_THOUSAND, EN_MILLION)
        return parsed
    return _full(t, i, _en_below_100, EN_HUNDRED, EN_THOUSAND, EN_MILLION)


def _fr_parse(t: tuple[str, ...], i: int) -> tuple[int, int, bool] | None:
    return _full(t, i, _fr_below_100, FR_HUNDRED, FR_THOUSAND, FR_MILLION)


# ---------------------------------------------------------------- public helpers

_STARTERS = (
    frozenset(FR_UNITS) | frozenset(FR_TENS) | frozenset(FR_ORDINALS) | FR_HUNDRED
    | FR_THOUSAND | FR_MILLION,
    frozenset(EN_UNITS) | frozenset(EN_TENS) | frozenset(EN_ORDINALS) | EN_ZERO_WORDS
    | EN_HUNDRED | EN_THOUSAND | EN_MILLION | {"a"},
)


def number_at(t: tuple[str, ...], i: int, lang: str, *, zero_words: bool = False
              ) -> NumberSpan | None:
    """The longest number starting at token i, or None."""
    w = t[i]
    is_digits = w.isascii() and w.isdigit()
    if not is_digits and w not in _STARTERS[lang == "en"]:
        return None
    if is_digits:
        ordinal = i + 1 < len(t) and t[i + 1] in ORDINAL_SUFFIXES
        return NumberSpan(i, i + 1, int(w), w, spoken=False, ordinal=ordinal)
    if lang == "en" and zero_words and w in EN_ZERO_WORDS:
        return NumberSpan(i, i + 1, 0, "0", spoken=True)
    parsed = _en_parse(t, i) if lang == "en" else _fr_parse(t, i)
    if parsed is None:
        return None
    value, end, ordinal = parsed
    return NumberSpan(i, end, value, str(value), spoken=True, ordinal=ordinal)


def find_numbers(t: tuple[str, ...], lang: str, *, zero_words: bool = False
                 ) -> list[NumberSpan]:
    """Every number group in the tokens, left to right, greedy and non-overlapping.

    `zero_words` reads English "oh"/"o" as 0 (digit dictation, years like "nineteen oh five").
    """
    spans: list[NumberSpan] = []
    i = 0
    while i < len(t):
        span = number_at(t, i, lang, zero_words=zero_words)
        if span is None:
            i += 1
            continue
        spans.append(span)
        i = span.end
    return spans


def merge_leading_zeros(spans: list[NumberSpan]) -> list[NumberSpan]:
    """A spoken zero followed by a spoken digit is one two-digit group ("zéro trois" -> "03")."""
    out: list[NumberSpan] = []
    for span in spans:
        prev = out[-1] if out else None
        if prev is not None and prev.spoken and span.spoken and prev.digits == "0" \
                and prev.end == span.start and span.value < 10 and not span.ordinal:
            out[-1] = NumberSpan(prev.start, span.end, span.value, "0" + span.digits, True)
        else:
            out.append(span)
    return out


def split_span(t: tuple[str, ...], span: NumberSpan, lang: str, limit: int
               ) -> list[NumberSpan] | None:
    """Cut a spoken group in two where the first part is at most `limit`.

    "douze mille neuf cent" read greedily is 12900; as a date it is 12, 1900.
    """
    for k in range(span.end - 1, span.start, -1):
        head = number_at(t[:k], span.start, lang)
        tail = number_at(t[:span.end], k, lang)
        if head and tail and head.end == k and tail.end == span.end and head.value <= limit:
            return [head, tail]
    return None


def combine_year(spans: list[NumberSpan]) -> int | None:
    """A year said in two parts: "nineteen eighty five", "dix neuf quatre vingt cinq".

    The first part must be 19 or 20 (a century, like "nineteen"/"twenty") and the rest
    say the last two digits ("eighty five", "oh five").
    """
    if len(spans) < 2 or spans[0].value not in (19, 20) or not spans[0].spoken:
        return None
    rest = "".join(s.digits for s in spans[1:])
    if len(rest) == 2 and all(s.spoken for s in spans[1:]):
        return spans[0].value * 100 + int(rest)
    return None


def parse_number(text: str, lang: str) -> int | None:
    """The one number said in `text` ("quatre-vingt-dix-sept" -> 97, "42" -> 42), else None.

    Spoken years in two parts are read as one number ("nineteen eighty-five" -> 1985).
    Several separate numbers, or none, give None.
    """
    t = words(text, lang)
    spans = find_numbers(t, lang, zero_words=lang == "en")
    if lang == "en":
        # "oh" alone is an interjection, not zero
        spans = [s for s in spans if s.spoken is False or t[s.start] not in EN_ZERO_WORDS
                 or len(spans) > 1]
    if not spans:
        return None
    if len(spans) == 1:
        return spans[0].value
    adjacent = all(a.end == b.start for a, b in pairwise(spans))
    return combine_year(spans) if adjacent else None


def parse_digits(text: str, lang: str) -> str | None:
    """A digit string dictated in words, numbers or digits ("zéro six douze" -> "0612").

    Each number group gives its natural digits ("douze" -> "12", "zéro six" -> "06");
    English "oh" is zero, "double"/"triple" repeat the next digit group. Words that are
    not numbers are skipped; None when no digit at all was said. Commas (pauses, when the
    recogniser gives them) separate groups: "vingt-quatre, vingt" is 2420, while without
    punctuation "vingt quatre vingt" reads as 20 80.
    """
    out = [_digits_of_chunk(chunk, lang) for chunk in _PAUSES.split(text)]
    return "".join(out) or None


_PAUSES = re.compile(r"[,;]|\.(?!\d)")


def _digits_of_chunk(text: str, lang: str) -> str:
    t = words(text, lang)
    out: list[str] = []
    i = 0
    while i < len(t):
        w = t[i]
        repeat = {"double": 2, "triple": 3}.get(w, 1) if lang == "en" else 1
        if lang == "fr" and w in ("deux", "trois") and i + 2 < len(t) and t[i + 1] == "fois":
            repeat, i = FR_UNITS[w], i + 2
        elif repeat > 1:
            i += 1
        if i >= len(t):
            break
        span = number_at(t, i, lang, zero_words=True)
        if span is None:
            i += 1
            continue
        if span.ordinal and not span.spoken:
            i = span.end + 1
            out.append(span.digits)
            continue
        out.append(span.digits * repeat)
        i = span.end
    return "".join(out)
