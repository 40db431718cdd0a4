"""Busy time out of iCalendar data: recurrences expanded, time zones honoured. Pure.

One remote resource (a CalDAV object, or one UID of an ICS feed) becomes the busy periods
it stands for between two instants, with ``recurring-ical-events`` expanding RRULE/RDATE,
EXDATE and moved or cancelled occurrences (RECURRENCE-ID), and ``icalendar`` decoding
TZIDs (Google's X-WR-TIMEZONE feeds are repaired by the same library). Rules:

- transparent (``TRANSP:TRANSPARENT``) and cancelled (``STATUS:CANCELLED``) events and
  occurrences are not busy;
- an all-day event blocks its local days in the practice's time zone; a floating time
  is read in that zone too;
- attendance: the practitioner's own PARTSTAT (``DECLINED``, ``TENTATIVE`` or
  ``NEEDS-ACTION``, matched on their addresses) or ``STATUS:TENTATIVE`` makes a period
  declined or tentative; the practice decides whether those block;
- events published by Telesec itself (UID ``...@telesec.invalid``) are not busy time:
  they are the appointments already in the agenda.

Nothing of an event's text (summary, description, place, attendees) is kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import recurring_ical_events
import x_wr_timezone
from icalendar import Calendar, Component

from scheduling.clock import require_aware, wall_to_utc
from storage.models import Attendance

OWN_UID_DOMAIN = "@telesec.invalid"
_RECURRENCE = ("RRULE", "RDATE", "RECURRENCE-ID")


class UnreadableCalendarData(ValueError):
    """The iCalendar text does not parse (the message names no content)."""


@dataclass(frozen=True, slots=True)
class BusySpan:
    starts_at: datetime  # aware UTC
    ends_at: datetime
    attendance: Attendance


@dataclass(frozen=True, slots=True)
class ParsedResource:
    own: bool  # published by Telesec
    recurring: bool
    spans: list[BusySpan] = field(default_factory=list)


def parse_calendar(text: str | bytes) -> Calendar:
    try:
        calendar = Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise UnreadableCalendarData(f"unreadable iCalendar data ({type(exc).__name__})"
                                     ) from None
    if not isinstance(calendar, Calendar):
        raise UnreadableCalendarData("unreadable iCalendar data (not a VCALENDAR)")
    return calendar


def busy_spans(
    calendar: Calendar,
    *,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    owners: frozenset[str] = frozenset(),
) -> ParsedResource:
    """The busy periods of ``calendar``'s events overlapping [start, end)."""
    events = [c for c in calendar.walk("VEVENT")]
    uids = {str(e.get("UID", "")) for e in events}
    if any(uid.endswith(OWN_UID_DOMAIN) for uid in uids):
        return ParsedResource(own=True, recurring=False)
    recurring = any(name in e for e in events for name in _RECURRENCE)
    if recurring:
        occurrences = recurring_ical_events.of(calendar, skip_bad_series=True).between(
            start, end)
    else:  # most events: nothing to expand, the library's work would be pure overhead
        if "X-WR-TIMEZONE" in calendar:
            calendar = x_wr_timezone.to_standard(calendar)
        occurrences = list(calendar.walk("VEVENT"))
    every = [span for span in (_span(o, zone, owners) for o in occurrences) if span]
    spans = sorted((span for span in every if span.ends_at > start and span.starts_at < end),
                   key=lambda span: (span.starts_at, span.ends_at))
    beyond = not recurring and any(span.starts_at >= end for span in every)
    return ParsedResource(own=False, recurring=recurring or beyond, spans=spans)


def _span(event: Component, zone: ZoneInfo, owners: frozenset[str]) -> BusySpan | None:
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return None
    if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return None
    if "DTSTART" not in event:
        return None
    first = event.decoded("DTSTART")
    if "DTEND" in event:
        last = event.decoded("DTEND")
    elif "DURATION" in event:
        last = first + event.decoded("DURATION")
    else:  # RFC 5545: a date lasts one day, a date-time is an instant (blocks nothing)
        last = first + timedelta(days=1) if not isinstance(first, datetime) else first
    starts_at, ends_at = _instant(first, zone), _instant(last, zone)
    if ends_at <= starts_at:
        return None
    return BusySpan(starts_at, ends_at, _attendance(event, owners))


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):  # an all-day date: the practice's local midnight
        return wall_to_utc(value, time(0), zone)
    if value.tzinfo is None:  # floating time: read on the practice's clock
        value = value.replace(tzinfo=zone)
    return require_aware(value, "event time")


def _attendance(event: Component, owners: frozenset[str]) -> Attendance:
    if owners:
        attendees = event.get("ATTENDEE", [])
        if not isinstance(attendees, list):
            attendees = [attendees]
        for attendee in attendees:
            if _address(str(attendee)) in owners:
                state = str(attendee.params.get("PARTSTAT", "ACCEPTED")).upper()
                if state == "DECLINED":
                    return Attendance.DECLINED
                if state in ("TENTATIVE", "NEEDS-ACTION"):
                    return Attendance.TENTATIVE
                break
    if str(event.get("STATUS", "")).upper() == "TENTATIVE":
        return Attendance.TENTATIVE
    return Attendance.BUSY


def _address(value: str) -> str:
    return value.strip().lower().removeprefix("mailto:")


def owner_addresses(text: str | None) -> frozenset[str]:
    """The practitioner's calendar addresses, as stored (comma-separated)."""
    return frozenset(_address(a) for a in (text or "").split(",") if a.strip())


def split_feed(calendar: Calendar) -> dict[str, tuple[str, Calendar]]:
    """An ICS feed as one resource per UID: ``{uid: (version hash, calendar)}``.

    The version hash stands in for a CalDAV ETag, so only events that changed since the
    last import are expanded again.
    """
    timezones = list(calendar.walk("VTIMEZONE"))
    grouped: dict[str, list[Component]] = {}
    for event in calendar.walk("VEVENT"):
        grouped.setdefault(str(event.get("UID", "")) or _anonymous(event), []).append(event)
    found: dict[str, tuple[str, Calendar]] = {}
    for uid, events in grouped.items():
        one = Calendar()
        for name in ("VERSION", "PRODID", "X-WR-TIMEZONE"):
            if name in calendar:
                one.add(name, calendar[name])
        for component in (*timezones, *events):
            one.add_component(component)
        digest = hashlib.sha256(b"".join(e.to_ical() for e in events)).hexdigest()[:40]
        found[uid] = (digest, one)
    return found


def _anonymous(event: Component) -> str:
    return "no-uid-" + hashlib.sha256(event.to_ical()).hexdigest()[:16]
