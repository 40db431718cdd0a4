"""Slot search: the earliest free times of a visit type, for the phone and for staff.

A read-only transaction: opening hours, minus closures, minus the cells taken by
appointments and live holds, cut into slots of the visit type's length. Nothing is
written and nothing is audited (a search names no patient).
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import cast, literal_column, null, union_all
from sqlalchemy.orm import Session

from scheduling import imported_busy, lookup, occupancy, patient_rules, rules
from scheduling.clock import now_utc, require_aware
from scheduling.lookup import PracticeRef, PractitionerRef
from scheduling.openings import weekly_openings
from scheduling.slots import Closure, WeeklyOpening, Window, free_starts, windows_on
from scheduling.values import Channel, PartOfDay, Reason, Refused, Slot
from storage.db import Database
from storage.models import Practice, Practitioner, UTCDateTime, VisitType

SEARCH_CHUNK_DAYS = 7
DEFAULT_HORIZON_DAYS = 92
NOON_HOUR = 12


class SlotSearch:
    """Find the free slots of every practice of one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def find_slots(
        self,
        practice: PracticeRef,
        visit_type: str,
        *,
        practitioner: PractitionerRef | None = None,
        day: date | None = None,
        part_of_day: PartOfDay | str | None = None,
        after: datetime | None = None,
        limit: int = 3,
        now: datetime | None = None,
        by: Channel = Channel.PHONE,
        horizon_days: int = DEFAULT_HORIZON_DAYS,
        new_patient: bool = False,
    ) -> list[Slot] | Refused:
        """The earliest free slots for ``visit_type``, earliest first, at most ``limit``.

        ``day`` is a local date of the practice; ``part_of_day`` keeps slots starting
        before noon (morning) or from noon (afternoon); ``after`` is an aware instant.
        Refused only when the visit type cannot be booked through ``by`` at all, or,
        for a ``new_patient``, when it is not open to new patients or no doctor asked
        for takes them (the slots are then those of doctors who do).
        """
        now = now_utc(now)
        part = PartOfDay(part_of_day) if part_of_day is not None else None
        with self.db.read_session() as session:
            place, kind, people = lookup.for_search(session, practice, visit_type, practitioner)
            if by is Channel.PHONE and not kind.phone_bookable:
                return Refused(
                    Reason.NOT_BOOKABLE_BY_PHONE, f"{kind.label} is booked by the practice"
                )
            if people is None:
                people = lookup.practitioners(session, place.id, practitioner)
            if new_patient:
                refusal = rules.new_patient_refusal(kind, True)
                taking = patient_rules.new_patient_practitioners(session, people)
                if refusal is None and people and not taking:
                    refusal = Refused(Reason.NEW_PATIENTS_NOT_ACCEPTED,
                                      "no doctor asked for is taking new patients")
                if refusal is not None:
                    return refusal
                people = taking
            if not people:
                return []
            earliest = now
            if by is Channel.PHONE:
                earliest = now + timedelta(minutes=kind.min_book_notice_minutes)
            if after is not None:
                earliest = max(earliest, require_aware(after, "after"))
            first_day = earliest.astimezone(ZoneInfo(place.timezone)).date()
            if day is not None:
                if day < first_day:
                    return []
                first_day, last_day = day, day
            else:
                last_day = first_day + timedelta(days=horizon_days - 1)
            openings = weekly_openings(session, people)
            found: list[Slot] = []
            chunk_start, chunk_days = first_day, 1  # the first day alone often suffices
            while chunk_start <= last_day and len(found) < limit:
                chunk_end = min(chunk_start + timedelta(days=chunk_days - 1), last_day)
                chunk_days = SEARCH_CHUNK_DAYS
                found.extend(
                    _free_slots_between(
                        session,
                        place,
                        kind,
                        people,
                        openings,
                        chunk_start,
                        chunk_end,
                        earliest,
                        now,
                        part,
                        limit - len(found),
                    )
                )
                chunk_start = chunk_end + timedelta(days=1)
            return found[:limit]


def _free_slots_between(
    session: Session,
    place: Practice,
    kind: VisitType,
    people: Sequence[Practitioner],
    openings: Sequence[WeeklyOpening],
    first_day: date,
    last_day: date,
    earliest: datetime,
    now: datetime,
    part: PartOfDay | None,
    wanted: int,
) -> list[Slot]:
    """The first ``wanted`` free slots on local days first_day..last_day, by start then
    practitioner."""
    zone = ZoneInfo(place.timezone)
    windows: list[Window] = []
    day = first_day
    while day <= last_day:
        windows.extend(windows_on(day, openings, zone))
        day += timedelta(days=1)
    windows = [w for w in windows if w.ends_at > earliest]
    if not windows:
        return []
    span_start = min(w.starts_at for w in windows)
    span_end = max(w.ends_at for w in windows)
    busy, closed = _taken(session, place.id, [p.id for p in people], span_start, span_end, now)
    names = {p.id: p.display_name for p in people}
    duration = timedelta(minutes=kind.duration_minutes)

    def starts_in(window: Window) -> Iterator[tuple[datetime, int, Window]]:
        empty: set[datetime] = set()
        busy_here = busy.get(window.practitioner_id, empty)
        for start in free_starts(window, duration, busy_here, closed, earliest):
            if part is None or _part_of_day(start, window, zone) is part:
                yield start, window.practitioner_id, window

    # every window yields in time order: merging them gives the earliest first, lazily
    merged = heapq.merge(*(starts_in(w) for w in windows))
    return [
        Slot(
            practice_id=place.id,
            practitioner_id=practitioner_id,
            practitioner_name=names[practitioner_id],
            visit_type_code=kind.code,
            starts_at=start,
            ends_at=start + duration,
            timezone=place.timezone,
        )
        for start, practitioner_id, _window in itertools.islice(merged, wanted)
    ]


# In one round trip: the occupied cells, the closures and the blocking imported busy time
# of the span (parameters: practice_id, practitioner_ids, starts_at, ends_at, now), each
# row (practitioner, start, end, what) with ``what`` one of the three names below.
_TAKEN = union_all(
    occupancy.BUSY_CELLS.add_columns(cast(null(), UTCDateTime()), literal_column("'cell'")),
    occupancy.CLOSURES.add_columns(literal_column("'closed'")),
    imported_busy.BLOCKING_PERIODS.add_columns(literal_column("'imported'")),
)


def _taken(
    session: Session,
    practice_id: int,
    practitioner_ids: list[int],
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
) -> tuple[dict[int, set[datetime]], list[Closure]]:
    """The busy cells (appointments, live holds, imported busy time) per practitioner, and
    the closures, of [starts_at, ends_at)."""
    busy: dict[int, set[datetime]] = defaultdict(set)
    closed: list[Closure] = []
    imported: list[tuple[int, datetime, datetime]] = []
    for person, start, end, what in session.execute(_TAKEN, {
            "practice_id": practice_id, "practitioner_ids": practitioner_ids,
            "starts_at": starts_at, "ends_at": ends_at, "now": now}):
        if what == "cell":
            busy[person].add(start)
        elif what == "closed":
            closed.append(Closure(person, start, end))
        else:
            imported.append((person, start, end))
    imported_busy.mark_cells(busy, imported, starts_at, ends_at)
    return busy, closed


def _part_of_day(moment: datetime, window: Window, zone: ZoneInfo) -> PartOfDay:
    """Morning before noon, afternoon from 13:00; between, the part its opening started in.

    A 12:10 visit at the end of a morning surgery is a morning visit.
    """
    hour = moment.astimezone(zone).hour
    if hour < NOON_HOUR:
        return PartOfDay.MORNING
    if hour > NOON_HOUR:
        return PartOfDay.AFTERNOON
    opened = window.starts_at.astimezone(zone).hour
    return PartOfDay.MORNING if opened < NOON_HOUR else PartOfDay.AFTERNOON
