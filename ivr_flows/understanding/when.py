"""When a caller would like to come: relative days, weekdays, dates, parts of day, times.

Conventions (documented choices):
- a weekday alone or with "prochain"/"next" is its next occurrence after today
  ("lundi" said on a Monday is the Monday after); "ce lundi"/"this Monday" said on a
  Monday is today; "mardi de la semaine prochaine" is the Tuesday of next week;
- "dans quinze jours" / "dans huit jours" are two weeks / one week;
- a day-month without year is the next such date from today;
- windows: morning 08:00–12:00, afternoon 13:00–18:00, evening 18:00–20:00, narrowed by
  "début"/"fin" (early/late); "vers"/"around" a time is ±30 minutes; "après"/"after" and
  "avant"/"before" are open on one side up to the day's ends (08:00, 20:00); after
  "avant"/"before" the time is a bound only (`time` stays None, `latest` carries it).
`earliest`/`latest` are datetimes (same tzinfo as `now`) when a day or a week is known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from ivr_flows.understanding.dates import find_day_month
from ivr_flows.understanding.normalise import fold, words
from ivr_flows.understanding.numbers import find_numbers
from ivr_flows.understanding.times import find_time

DAY_START = time(8, 0)
DAY_END = time(20, 0)
WINDOWS = {
    "morning": (time(8, 0), time(12, 0)),
    "afternoon": (time(13, 0), time(18, 0)),
    "evening": (time(18, 0), time(20, 0)),
}
NARROWED = {
    ("morning", "early"): (time(8, 0), time(10, 0)),
    ("morning", "late"): (time(10, 30), time(12, 0)),
    ("afternoon", "early"): (time(13, 0), time(15, 0)),
    ("afternoon", "late"): (time(16, 0), time(18, 0)),
    ("evening", "early"): (time(17, 0), time(19, 0)),
    ("evening", "late"): (time(19, 0), time(20, 0)),
}
WEEKDAYS = {
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    "en": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
}


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + fold(pattern) + r")\b")


PART_OF_DAY = {
    "fr": [
        ("afternoon", _rx(r"apres midi|aprem|aprèm")),
        ("morning", _rx(r"matin|matinee")),
        ("evening", _rx(r"soir|soiree|fin de journee|en fin de journee")),
    ],
    "en": [
        ("afternoon", _rx(r"afternoon|after lunch")),
        ("morning", _rx(r"morning|am|a m")),
        ("evening", _rx(r"evening|tonight|end of the day|after work")),
    ],
}
NARROW = {
    "fr": [("early", _rx(r"debut|en debut|tot|de bonne heure|premiere heure")),
           ("late", _rx(r"fin|en fin|tard"))],
    "en": [("early", _rx(r"early|first thing")), ("late", _rx(r"late|end of"))],
}
TODAY = {"fr": _rx(r"aujourdhui|ce matin|cet apres midi|cet aprem|ce soir|ce midi|"
                   r"dans la journee"),
         "en": _rx(r"today|this morning|this afternoon|this evening|tonight|this lunchtime")}
TOMORROW = {"fr": _rx(r"demain"), "en": _rx(r"tomorrow")}
AFTER_TOMORROW = {"fr": _rx(r"apres demain"), "en": _rx(r"day after tomorrow")}
IN_DAYS = {"fr": _rx(r"dans (\S+(?: \S+)?) (jours|jour|semaines|semaine)"),
           "en": _rx(r"in (\S+(?: \S+)?) (days|day|weeks|week)")}
NEXT_WEEK = {"fr": _rx(r"semaine prochaine|semaine d apres|semaine suivante"),
             "en": _rx(r"next week|the week after|following week")}
THIS_WEEK = {"fr": _rx(r"cette semaine|dans la semaine"), "en": _rx(r"this week")}
NEXT_MARK = {"fr": _rx(r"prochain|prochaine|suivant"), "en": _rx(r"next|coming|following")}
THIS_MARK = {"fr": ("ce", "cette"), "en": ("this",)}
END_OF_DAY = {"fr": _rx(r"fin de journee"), "en": _rx(r"end of the day")}
EIGHT_DAYS = {"fr": _rx(r"en huit"), "en": _rx(r"week on")}
APPROX = {"fr": ("vers", "environ", "aux alentours", "autour de"),
          "en": ("around", "about", "roughly", "ish")}
AFTER = {"fr": ("apres", "a partir de", "pas avant", "plutot apres"),
         "en": ("after", "from", "not before", "any time after")}
BEFORE = {"fr": ("avant", "au plus tard", "pas apres", "jusqu a"),
          "en": ("before", "by", "not after", "no later than", "until")}


# "whenever is first": the first free time, as key 1 of the when question
SOONEST = {
    "fr": _rx(r"le plus tot possible|au plus tot|des que possible|au plus vite|le plus vite|"
              r"rapidement|n importe quand|n importe quel jour|peu importe|ca m est egal|"
              r"quand vous voulez|quand vous pouvez|(?:le )?premier (?:creneau|rendez vous|"
              r"disponible|libre|jour libre)|la premiere (?:date|place|disponibilite)"),
    "en": _rx(r"as soon as possible|asap|a s a p|earliest|soonest|as early as possible|"
              r"any time|anytime|any day|whenever|i do not mind|does not matter|"
              r"(?:the )?first (?:free|available|slot|opening|one you have)"),
}


def wants_soonest(text: str, lang: str) -> bool:
    """The caller takes the first free time ("le plus tôt possible", "any time")."""
    return bool(SOONEST[lang].search(" ".join(words(text, lang))))


@dataclass(frozen=True)
class When:
    """Moment a caller asks for; fields are None when not said."""

    day: date | None = None
    weekday: int | None = None
    part_of_day: str | None = None
    time: time | None = None
    earliest: datetime | None = None
    latest: datetime | None = None


def _count(text: str, lang: str) -> int | None:
    """How many days/weeks "deux", "3", "une" say; French "quinze/huit jours" are 14/7."""
    t = tuple(text.split())
    if t and t[0] in ("quelques", "few", "couple"):
        return None
    if lang == "fr" and text in ("quinze", "15"):
        return 14
    if lang == "fr" and text in ("huit", "8"):
        return 7
    if t in (("une",), ("un",), ("a",), ("one",)):
        return 1
    spans = find_numbers(t, lang)
    return spans[0].value if len(spans) == 1 and spans[0].end == len(t) else None


def _relative_day(s: str, t: tuple[str, ...], lang: str, today: date) -> tuple[date | None,
                                                                             str | None]:
    """(day, "week"/"this_week" when a whole week is meant)."""
    if AFTER_TOMORROW[lang].search(s):
        return today + timedelta(days=2), None
    if TOMORROW[lang].search(s):
        return today + timedelta(days=1), None
    if TODAY[lang].search(s):
        return today, None
    m = IN_DAYS[lang].search(s)
    if m:
        said = m.group(1)
        n = _count(said, lang)
        if n is None and len(said.split()) > 1:
            n = _count(said.split()[-1], lang)
        if n is not None:
            unit = 7 if m.group(2).startswith(("semaine", "week")) else 1
            return today + timedelta(days=n * unit), None
    names = WEEKDAYS[lang]
    for k, w in enumerate(t):
        if w in names:
            wd = names.index(w)
            if NEXT_WEEK[lang].search(s):
                monday = today - timedelta(days=today.weekday()) + timedelta(days=7)
                return monday + timedelta(days=wd), None
            ahead = (wd - today.weekday()) % 7
            if ahead == 0 and not (k > 0 and t[k - 1] in THIS_MARK[lang]):
                ahead = 7
            day = today + timedelta(days=ahead)
            if EIGHT_DAYS[lang].search(s):
                day += timedelta(days=7)
            return day, None
    found = find_day_month(t, lang)
    if found is not None:
        year = found.year if found.year and found.year > 1000 else today.year
        try:
            day = date(year, found.month, found.day)
            if found.year is None and day < today:
                day = date(year + 1, found.month, found.day)
        except ValueError:
            return None, None
        return day, None
    if NEXT_WEEK[lang].search(s):
        return None, "week"
    if THIS_WEEK[lang].search(s):
        return None, "this_week"
    return None, None


def _has_before(t: tuple[str, ...], start: int, leads: tuple[str, ...]) -> bool:
    before = " " + " ".join(t[max(0, start - 4):start]) + " "
    return any(before.endswith(" " + lead + " ") or before.endswith(" " + lead + " a ")
               for lead in leads)


def parse_when(text: str, lang: str, now: datetime | None = None) -> When | None:
    """When the caller wants to come ("demain matin", "next Tuesday afternoon"), or None."""
    now = now or datetime.now()
    today = now.date()
    t = words(text, lang)
    s = " ".join(t)
    day, week = _relative_day(s, t, lang, today)

    s_parts = s.replace("apres demain", " ") if lang == "fr" else s
    part = next((p for p, rx in PART_OF_DAY[lang] if rx.search(s_parts)), None)
    found_time = find_time(t, lang)  # "après-midi" is never read as noon
    window: tuple[time, time] | None = None
    if part is not None:
        narrow = next((n for n, rx in NARROW[lang] if rx.search(s)), None)
        if part == "evening" and END_OF_DAY[lang].search(s):
            narrow = "early"
        window = NARROWED.get((part, narrow)) or WINDOWS[part]
    clock = found_time.value if found_time else None
    if clock is not None:
        if part is None:
            # "avant midi" is a morning; "à midi", "vers 14h" are afternoons
            bound = clock.hour - (_has_before(t, found_time.start, BEFORE[lang])
                                  and clock.minute == 0)
            part = "morning" if bound < 12 else "afternoon" if bound < 18 else "evening"
        moment = datetime.combine(today, clock)
        if _has_before(t, found_time.start, APPROX[lang]):
            window = ((moment - timedelta(minutes=30)).time(),
                      (moment + timedelta(minutes=30)).time())
        elif _has_before(t, found_time.start, AFTER[lang]):
            window = (clock, DAY_END)
        elif _has_before(t, found_time.start, BEFORE[lang]):
            window = (DAY_START, clock)
            clock = None
        else:
            window = (clock, clock)
    if day is None and week is None and part is None and clock is None:
        return None

    earliest = latest = None
    tz = now.tzinfo
    if day is not None:
        lo, hi = window or (time(0, 0), time(23, 59))
        earliest = datetime.combine(day, lo, tz)
        latest = datetime.combine(day, hi, tz)
        if day == today and earliest < now:
            earliest = now
    elif week == "week":
        monday = today - timedelta(days=today.weekday()) + timedelta(days=7)
        earliest = datetime.combine(monday, time(0, 0), tz)
        latest = datetime.combine(monday + timedelta(days=6), time(23, 59), tz)
    elif week == "this_week":
        sunday = today + timedelta(days=6 - today.weekday())
        earliest = now
        latest = datetime.combine(sunday, time(23, 59), tz)
    return When(day=day, weekday=day.weekday() if day else None, part_of_day=part,
                time=clock, earliest=earliest, latest=latest)
