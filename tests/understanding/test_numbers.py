"""Numbers and digit strings, checked against independent spellers of numbers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr_flows.understanding import normalise, parse_digits, parse_number

FR_SMALL = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf",
            "dix", "onze", "douze", "treize", "quatorze", "quinze", "seize"]
FR_TENS = {20: "vingt", 30: "trente", 40: "quarante", 50: "cinquante", 60: "soixante"}
EN_SMALL = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
            "seventeen", "eighteen", "nineteen"]
EN_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def fr_words(n: int) -> str:
    """French words for 0 <= n < 1_000_000 (1990 spelling reform: hyphens everywhere)."""
    if n < 17:
        return FR_SMALL[n]
    if n < 20:
        return "dix-" + FR_SMALL[n - 10]
    if n < 70:
        tens, unit = divmod(n, 10)
        base = FR_TENS[tens * 10]
        return base if unit == 0 else base + ("-et-un" if unit == 1 else "-" + FR_SMALL[unit])
    if n < 80:
        return "soixante-et-onze" if n == 71 else "soixante-" + fr_words(n - 60)
    if n < 100:
        return "quatre-vingts" if n == 80 else "quatre-vingt-" + fr_words(n - 80)
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = "cent" if hundreds == 1 else FR_SMALL[hundreds] + " cent"
        if rest == 0:
            return head + ("s" if hundreds > 1 else "")
        return head + " " + fr_words(rest)
    thousands, rest = divmod(n, 1000)
    head = "mille" if thousands == 1 else fr_words(thousands) + " mille"
    return head if rest == 0 else head + " " + fr_words(rest)


def en_words(n: int) -> str:
    """English words for 0 <= n < 1_000_000."""
    if n < 20:
        return EN_SMALL[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return EN_TENS[tens] + ("" if unit == 0 else "-" + EN_SMALL[unit])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = EN_SMALL[hundreds] + " hundred"
        return head if rest == 0 else head + " and " + en_words(rest)
    thousands, rest = divmod(n, 1000)
    head = en_words(thousands) + " thousand"
    if rest == 0:
        return head
    return head + (" and " if rest < 100 else " ") + en_words(rest)


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=999_999))
def test_french_numbers_round_trip(n):
    assert parse_number(fr_words(n), "fr") == n


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=999_999))
def test_english_numbers_round_trip(n):
    assert parse_number(en_words(n), "en") == n


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=12),
       st.sampled_from(["fr", "en"]))
def test_digit_by_digit_dictation(digits, lang):
    speller = fr_words if lang == "fr" else en_words
    spoken = " ".join(speller(d) for d in digits)
    assert parse_digits(spoken, lang) == "".join(map(str, digits))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=10, max_value=99), min_size=1, max_size=5))
def test_french_phone_pairs(pairs):
    """French numbers are dictated in pairs: "zéro six, douze, trente-quatre..."."""
    spoken = "zéro six " + ", ".join(fr_words(p) for p in pairs)
    assert parse_digits(spoken, "fr") == "06" + "".join(str(p) for p in pairs)


def test_fr_forms():
    assert parse_number("quatre-vingt-dix-sept", "fr") == 97
    assert parse_number("soixante et onze", "fr") == 71
    assert parse_number("mille neuf cent quatre-vingt-cinq", "fr") == 1985
    assert parse_number("dix-neuf cent quatre-vingt-cinq", "fr") == 1985
    assert parse_number("septante-sept", "fr") == 77
    assert parse_number("huitante", "fr") == 80
    assert parse_number("nonante-neuf", "fr") == 99
    assert parse_number("Quatre-Vingt-Dix-Sept !", "fr") == 97


def test_en_forms():
    assert parse_number("twenty three", "en") == 23
    assert parse_number("nineteen eighty-five", "en") == 1985
    assert parse_number("twenty twenty-five", "en") == 2025
    assert parse_number("a thousand", "en") == 1000
    assert parse_number("oh", "en") is None


def test_several_separate_numbers_are_ambiguous():
    assert parse_number("deux enfants et trois chats", "fr") is None
    assert parse_number("nothing to say", "en") is None


def test_digits_forms():
    assert parse_digits("zéro six douze trente-quatre", "fr") == "061234"
    assert parse_digits("oh six", "en") == "06"
    assert parse_digits("0 6 1 2", "fr") == "0612"
    assert parse_digits("double seven triple zero", "en") == "77000"
    assert parse_digits("bonjour", "fr") is None


def test_normalise():
    assert normalise("Quatre-vingt-dix, l'après-midi !", "fr") == "quatre vingt dix l après midi"
    assert normalise("Aujourd'hui, euh... ben", "fr") == "aujourdhui"
    assert normalise("I can't, uh, that's it", "en") == "i can not that is it"
    assert normalise("10:30", "en") == "10 h 30"
    assert normalise("le 1er", "fr") == "le 1 er"
    assert normalise("cœur", "fr") == "coeur"
