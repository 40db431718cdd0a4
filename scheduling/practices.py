"""Set up practices: practitioners, visit types, weekly opening hours and closures.

Every function works inside the caller's transaction and checks its input before
writing; a :class:`SchedulingError` raised inside ``db.session()`` rolls everything back.
A whole practice can be described in a YAML file (see ``demo_practice.yaml``) and applied
with :func:`apply_practice`, which creates or updates it, so applying twice changes nothing.

Every function takes the ``actor`` making the change (``staff:<login>``, ``cli:<user>``,
``system:<job>``) and an optional ``purpose``, and writes one audit event per change in
the caller's transaction (``practice.create``, ``practice.update``,
``practitioner.create``, ``practitioner.update``, ``visit_type.create``,
``visit_type.update``, ``opening_hours.update``, ``closure.create``); what does not
change writes nothing.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from scheduling import audit_events, lookup
from scheduling.audit_events import Action, Who
from scheduling.clock import CELL, require_aware
from scheduling.errors import (
    OverlappingException,
    PracticeConfigError,
    SchedulingError,
)
from scheduling.lookup import PracticeRef, PractitionerRef
from scheduling.practice_profile import (
    ProfileDefinition,
    check_recipient,
    set_practitioner_options,
    set_profile,
)
from storage.models import (
    ExceptionKind,
    OpeningTemplate,
    Practice,
    Practitioner,
    ScheduleException,
    VisitType,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_CELL_MINUTES = int(CELL.total_seconds() // 60)


# ----- a practice described as data ------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VisitTypeDefinition(_Strict):
    code: str = Field(pattern=_SLUG.pattern)
    label: str = Field(min_length=1, max_length=200)
    minutes: int = Field(gt=0, le=8 * 60, multiple_of=_CELL_MINUTES)
    phone_bookable: bool = True
    new_patients_allowed: bool = True
    min_book_notice_minutes: int = Field(60, ge=0)
    min_cancel_notice_minutes: int = Field(24 * 60, ge=0)


class PractitionerDefinition(_Strict):
    slug: str = Field(pattern=_SLUG.pattern)
    name: str = Field(min_length=1, max_length=200)
    specialty: str | None = None
    opening: dict[str, list[str]] = {}
    accepts_new_patients: bool = True
    alert_address: str | None = Field(None, max_length=254)

    @field_validator("alert_address")
    @classmethod
    def _alert(cls, value: str | None) -> str | None:
        return None if value is None else check_recipient(value)

    @field_validator("opening")
    @classmethod
    def _spans(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, spans in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown day {day!r}; use one of {', '.join(WEEKDAYS)}")
            for span in spans:
                parse_span(span)
        return value

    def weekly_opening(self) -> list[tuple[int, time, time]]:
        return [
            (WEEKDAYS.index(day), *parse_span(span))
            for day, spans in self.opening.items()
            for span in spans
        ]


class PracticeDefinition(_Strict):
    slug: str = Field(pattern=_SLUG.pattern)
    name: str = Field(min_length=1, max_length=200)
    timezone: str = "Europe/Paris"
    phone_number: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$")
    practitioners: list[PractitionerDefinition] = Field(min_length=1)
    visit_types: list[VisitTypeDefinition] = Field(min_length=1)
    profile: ProfileDefinition | None = None  # what callers are told (practice_profile.py)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        check_timezone(value)
        return value


def parse_span(span: str) -> tuple[time, time]:
    """``"08:30-12:00"`` → (08:30, 12:00); times on 5-minute steps, start before end."""
    found = _SPAN.match(span)
    if found is None:
        raise ValueError(f"opening {span!r} is not like 08:30-12:00")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError:
        raise ValueError(f"opening {span!r} has an impossible time") from None
    if start >= end:
        raise ValueError(f"opening {span!r} ends before it starts")
    if m1 % _CELL_MINUTES or m2 % _CELL_MINUTES:
        raise ValueError(f"opening {span!r}: use times on {_CELL_MINUTES}-minute steps")
    return start, end


def check_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PracticeConfigError(
            f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris'"
        ) from None


def parse_practice(data: Any, source: str = "practice definition") -> PracticeDefinition:
    """Validate a practice definition; any problem is one :class:`PracticeConfigError` line."""
    try:
        return PracticeDefinition.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise PracticeConfigError(f"{source}: {problems}") from None


def load_practice_file(path: Path) -> PracticeDefinition:
    """Read and validate a YAML practice file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PracticeConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        raise PracticeConfigError(f"{path}:{line} is not valid YAML; fix its syntax") from None
    return parse_practice(data, str(path))


def apply_practice(
    session: Session,
    definition: PracticeDefinition,
    *,
    actor: str,
    purpose: str | None = None,
) -> Practice:
    """Create the practice, or bring an existing one (same slug) in line with ``definition``.

    Practitioners and visit types missing from the definition are left alone (they may
    have appointments); the weekly opening of each listed practitioner is replaced, and
    so is the practice's profile when the definition has one.
    Each row created or changed is audited; applying the same definition again writes
    nothing.
    """
    audit_events.require_actor(actor)
    who = {"actor": actor, "purpose": purpose}
    place = session.scalar(select(Practice).where(Practice.slug == definition.slug))
    if place is None:
        place = create_practice(
            session,
            slug=definition.slug,
            name=definition.name,
            timezone=definition.timezone,
            phone_number=definition.phone_number,
            **who,
        )
    else:
        changed = _assign(
            place,
            name=definition.name,
            timezone=definition.timezone,
            phone_number=definition.phone_number,
        )
        _audit_update(session, "practice", place.id, place.id, changed, **who)
    for kind in definition.visit_types:
        fields = kind.model_dump(exclude={"code", "minutes"})
        existing = session.scalar(
            select(VisitType).where(VisitType.practice_id == place.id, VisitType.code == kind.code)
        )
        if existing is None:
            add_visit_type(
                session, place.id, kind.code, duration_minutes=kind.minutes, **fields, **who
            )
        else:
            changed = _assign(existing, duration_minutes=kind.minutes, **fields)
            _audit_update(session, "visit_type", existing.id, place.id, changed, **who)
    for person in definition.practitioners:
        row = session.scalar(
            select(Practitioner).where(
                Practitioner.practice_id == place.id, Practitioner.slug == person.slug
            )
        )
        if row is None:
            row = add_practitioner(
                session, place.id, person.slug, person.name, person.specialty, **who
            )
        else:
            changed = _assign(
                row, display_name=person.name, specialty=person.specialty, active=True
            )
            _audit_update(session, "practitioner", row.id, place.id, changed, **who)
        set_weekly_opening(session, row.id, person.weekly_opening(), **who)
        set_practitioner_options(session, row.id,
                                 accepts_new_patients=person.accepts_new_patients,
                                 alert_address=person.alert_address, **who)
    if definition.profile is not None:
        set_profile(session, place.id, definition.profile, **who)
    session.flush()
    return place


def _assign(row: object, **values: Any) -> list[str]:
    """Set the attributes of ``row`` that differ from ``values``; returns their names."""
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    for name in changed:
        setattr(row, name, values[name])
    return changed


def _set_up(action: str, object_type: str) -> Action:
    """An audited change of a practice's set-up."""
    return Action(action, object_type, "practice set-up")


def _audit_update(
    session: Session,
    object_type: str,
    object_id: int,
    practice_id: int,
    changed: list[str],
    *,
    actor: str,
    purpose: str | None,
) -> None:
    if not changed:
        return
    session.flush()
    audit_events.record(
        session, _set_up(f"{object_type}.update", object_type), Who(actor, purpose),
        object_id=object_id, practice_id=practice_id, detail={"fields": sorted(changed)},
    )


def _audit_create(
    session: Session,
    object_type: str,
    object_id: object,
    practice_id: int,
    *,
    actor: str,
    purpose: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    audit_events.record(
        session, _set_up(f"{object_type}.create", object_type), Who(actor, purpose),
        object_id=object_id, practice_id=practice_id, detail=detail,
    )


# ----- one thing at a time -------------------------------------------------------------


def create_practice(
    session: Session,
    *,
    slug: str,
    name: str,
    timezone: str = "Europe/Paris",
    phone_number: str | None = None,
    actor: str,
    purpose: str | None = None,
) -> Practice:
    """A new practice; audited as ``practice.create``."""
    audit_events.require_actor(actor)
    if not _SLUG.match(slug):
        raise PracticeConfigError(f"practice slug {slug!r}: use lowercase letters, digits, -")
    check_timezone(timezone)
    if session.scalar(select(Practice.id).where(Practice.slug == slug)) is not None:
        raise PracticeConfigError(f"a practice {slug!r} already exists")
    if phone_number is not None and session.scalar(
        select(Practice.id).where(Practice.phone_number == phone_number)
    ):
        raise PracticeConfigError(f"another practice already answers {phone_number}")
    row = Practice(slug=slug, name=name, timezone=timezone, phone_number=phone_number)
    session.add(row)
    session.flush()
    _audit_create(session, "practice", row.id, row.id, actor=actor, purpose=purpose)
    return row


def add_practitioner(
    session: Session,
    practice: PracticeRef,
    slug: str,
    display_name: str,
    specialty: str | None = None,
    *,
    actor: str,
    purpose: str | None = None,
) -> Practitioner:
    """A new practitioner of ``practice``; audited as ``practitioner.create``."""
    audit_events.require_actor(actor)
    place = lookup.practice(session, practice)
    if not _SLUG.match(slug):
        raise PracticeConfigError(f"practitioner slug {slug!r}: use lowercase letters, digits, -")
    taken = session.scalar(
        select(Practitioner.id).where(
            Practitioner.practice_id == place.id, Practitioner.slug == slug
        )
    )
    if taken is not None:
        raise PracticeConfigError(f"a practitioner {slug!r} already exists in this practice")
    row = Practitioner(
        practice_id=place.id, slug=slug, display_name=display_name, specialty=specialty
    )
    session.add(row)
    session.flush()
    _audit_create(session, "practitioner", row.id, place.id, actor=actor, purpose=purpose)
    return row


def add_visit_type(
    session: Session,
    practice: PracticeRef,
    code: str,
    *,
    label: str,
    duration_minutes: int,
    phone_bookable: bool = True,
    new_patients_allowed: bool = True,
    min_book_notice_minutes: int = 60,
    min_cancel_notice_minutes: int = 24 * 60,
    actor: str,
    purpose: str | None = None,
) -> VisitType:
    """A new visit type of ``practice``; audited as ``visit_type.create``."""
    audit_events.require_actor(actor)
    place = lookup.practice(session, practice)
    if duration_minutes <= 0 or duration_minutes % _CELL_MINUTES:
        raise PracticeConfigError(
            f"visit type {code!r}: a duration is a positive multiple of {_CELL_MINUTES} minutes"
        )
    if min_book_notice_minutes < 0 or min_cancel_notice_minutes < 0:
        raise PracticeConfigError(f"visit type {code!r}: notice periods cannot be negative")
    taken = session.scalar(
        select(VisitType.id).where(VisitType.practice_id == place.id, VisitType.code == code)
    )
    if taken is not None:
        raise PracticeConfigError(f"a visit type {code!r} already exists in this practice")
    row = VisitType(
        practice_id=place.id,
        code=code,
        label=label,
        duration_minutes=duration_minutes,
        phone_bookable=phone_bookable,
        new_patients_allowed=new_patients_allowed,
        min_book_notice_minutes=min_book_notice_minutes,
        min_cancel_notice_minutes=min_cancel_notice_minutes,
    )
    session.add(row)
    session.flush()
    _audit_create(session, "visit_type", row.id, place.id, actor=actor, purpose=purpose)
    return row


def set_weekly_opening(
    session: Session,
    practitioner_id: int,
    openings: Sequence[tuple[int, time, time]],
    *,
    actor: str,
    purpose: str | None = None,
) -> None:
    """Replace a practitioner's weekly opening by ``openings`` (weekday, start, end).

    Audited as ``opening_hours.update`` when the opening hours actually change.
    """
    audit_events.require_actor(actor)
    by_day: dict[int, list[tuple[time, time]]] = {}
    for weekday, start, end in openings:
        if not 0 <= weekday <= 6:
            raise PracticeConfigError(f"weekday {weekday} is not 0 (Monday) to 6 (Sunday)")
        if start >= end:
            raise PracticeConfigError(f"opening {start}-{end} ends before it starts")
        if start.minute % _CELL_MINUTES or end.minute % _CELL_MINUTES or start.second:
            raise PracticeConfigError(f"opening {start}-{end}: use {_CELL_MINUTES}-minute steps")
        by_day.setdefault(weekday, []).append((start, end))
    for weekday, spans in by_day.items():
        spans.sort()
        for (_, end), (next_start, _) in itertools.pairwise(spans):
            if next_start < end:
                raise PracticeConfigError(f"{WEEKDAYS[weekday]}: opening hours overlap")
    person = session.get(Practitioner, practitioner_id)
    if person is None:
        raise PracticeConfigError(f"no practitioner {practitioner_id}")
    current = list(
        session.scalars(
            select(OpeningTemplate).where(OpeningTemplate.practitioner_id == practitioner_id)
        )
    )
    if sorted((r.weekday, r.start_time, r.end_time) for r in current) == sorted(openings):
        return
    for row in current:
        session.delete(row)
    session.flush()
    session.add_all(
        OpeningTemplate(practitioner_id=practitioner_id, weekday=w, start_time=s, end_time=e)
        for w, s, e in openings
    )
    session.flush()
    audit_events.record(
        session, _set_up("opening_hours.update", "practitioner"), Who(actor, purpose),
        object_id=practitioner_id, practice_id=person.practice_id,
        detail={"spans": len(openings)},
    )


def add_closure(
    session: Session,
    practice: PracticeRef,
    kind: ExceptionKind,
    starts_at: datetime,
    ends_at: datetime,
    *,
    practitioner: PractitionerRef | None = None,
    label: str | None = None,
    now: datetime | None = None,
    actor: str,
    purpose: str | None = None,
) -> ScheduleException:
    """Close the practice (no practitioner) or one practitioner for a period.

    Refused: a period that ends before it starts or in the past, one overlapping a
    closure of the same scope. Existing appointments in the period are kept (staff
    move them); the period offers no new slot. Audited as ``closure.create`` (the label,
    which may say why someone is absent, is not in the event).
    """
    audit_events.require_actor(actor)
    place = lookup.practice(session, practice)
    starts_at, ends_at = require_aware(starts_at, "start"), require_aware(ends_at, "end")
    now = datetime.now(UTC) if now is None else require_aware(now, "now")
    if starts_at >= ends_at:
        raise SchedulingError("a closure ends after it starts")
    if ends_at <= now:
        raise SchedulingError("that closure is entirely in the past")
    person_id = (
        lookup.practitioner(session, place.id, practitioner).id
        if practitioner is not None
        else None
    )
    same_scope = (
        ScheduleException.practitioner_id.is_(None)
        if person_id is None
        else or_(
            ScheduleException.practitioner_id == person_id,
            ScheduleException.practitioner_id.is_(None),
        )
    )
    clash = session.scalar(
        select(ScheduleException).where(
            ScheduleException.practice_id == place.id,
            same_scope,
            ScheduleException.starts_at < ends_at,
            ScheduleException.ends_at > starts_at,
        )
    )
    if clash is not None:
        raise OverlappingException(
            f"overlaps the closure {clash.id} ({clash.kind}) from {clash.starts_at:%Y-%m-%d %H:%M}"
            f" to {clash.ends_at:%Y-%m-%d %H:%M} UTC; change or remove that one first"
        )
    row = ScheduleException(
        practice_id=place.id,
        practitioner_id=person_id,
        kind=ExceptionKind(kind),
        starts_at=starts_at,
        ends_at=ends_at,
        label=label,
    )
    session.add(row)
    session.flush()
    _audit_create(
        session,
        "closure",
        row.id,
        place.id,
        actor=actor,
        purpose=purpose,
        detail={"kind": str(row.kind), "practitioner_id": person_id},
    )
    return row
