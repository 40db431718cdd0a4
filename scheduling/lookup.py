"""Find practices, practitioners, visit types and slots by the names people use, or fail clearly."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, select
from sqlalchemy.orm import Session

from scheduling.clock import on_cell_grid, require_aware
from scheduling.errors import InvalidSlot, UnknownPractice, UnknownPractitioner, UnknownVisitType
from scheduling.values import Slot
from storage.models import Practice, Practitioner, VisitType

PracticeRef = int | str
PractitionerRef = int | str


def practice(session: Session, ref: PracticeRef) -> Practice:
    """The practice with that id or slug."""
    if isinstance(ref, int):
        found = session.get(Practice, ref)
    else:
        found = session.scalar(select(Practice).where(Practice.slug == ref))
    if found is None:
        raise UnknownPractice(f"no practice {ref!r}; check the practice slug")
    return found


def visit_type(session: Session, practice_id: int, code: str) -> VisitType:
    """The visit type with that code in the practice."""
    found = session.scalar(
        select(VisitType).where(VisitType.practice_id == practice_id, VisitType.code == code)
    )
    if found is None:
        codes = session.scalars(
            select(VisitType.code).where(VisitType.practice_id == practice_id)
        ).all()
        raise UnknownVisitType(
            f"no visit type {code!r} in this practice; known: {', '.join(sorted(codes)) or 'none'}"
        )
    return found


def practitioner(session: Session, practice_id: int, ref: PractitionerRef) -> Practitioner:
    """The practitioner with that id or slug in the practice."""
    if isinstance(ref, int):
        found = session.get(Practitioner, ref)
        if found is not None and found.practice_id != practice_id:
            found = None
    else:
        found = session.scalar(
            select(Practitioner).where(
                Practitioner.practice_id == practice_id, Practitioner.slug == ref
            )
        )
    if found is None:
        slugs = session.scalars(
            select(Practitioner.slug).where(Practitioner.practice_id == practice_id)
        ).all()
        raise UnknownPractitioner(
            f"no practitioner {ref!r} in this practice; known: {', '.join(sorted(slugs)) or 'none'}"
        )
    return found


def practitioners(
    session: Session, practice_id: int, ref: PractitionerRef | None = None
) -> list[Practitioner]:
    """The practitioner named by ``ref``, or every active practitioner of the practice."""
    if ref is not None:
        return [practitioner(session, practice_id, ref)]
    return list(
        session.scalars(
            select(Practitioner)
            .where(Practitioner.practice_id == practice_id, Practitioner.active.is_(True))
            .order_by(Practitioner.id)
        )
    )


@lru_cache(maxsize=8)
def _search_rows(practice_by_slug: bool, who: str) -> Select[tuple[Practice, VisitType,
                                                                   Practitioner]]:
    """Practice, visit type and practitioners of a search, one row per practitioner
    (parameters: practice, code, practitioner); ``who``: active, id or slug."""
    statement = (
        select(Practice, VisitType, Practitioner)
        .join(VisitType, and_(VisitType.practice_id == Practice.id,
                              VisitType.code == bindparam("code")))
        .join(Practitioner, Practitioner.practice_id == Practice.id)
        .where((Practice.slug if practice_by_slug else Practice.id) == bindparam("practice"))
        .order_by(Practitioner.id)
    )
    if who == "active":
        return statement.where(Practitioner.active.is_(True))
    column = Practitioner.id if who == "id" else Practitioner.slug
    return statement.where(column == bindparam("practitioner"))


def for_search(
    session: Session, ref: PracticeRef, code: str, practitioner_ref: PractitionerRef | None
) -> tuple[Practice, VisitType, list[Practitioner] | None]:
    """The practice, the visit type and the practitioners (the one named, or every active
    one) of a slot search, in one round trip. When a row is missing, the practice and
    visit type are looked up one by one (an unknown one raises) and the practitioners
    come back None: the caller looks them up with :func:`practitioners`."""
    who = ("active" if practitioner_ref is None
           else "id" if isinstance(practitioner_ref, int) else "slug")
    rows = session.execute(_search_rows(isinstance(ref, str), who), {
        "practice": ref, "code": code, "practitioner": practitioner_ref}).all()
    if rows:
        return rows[0][0], rows[0][1], [row[2] for row in rows]
    place = practice(session, ref)
    return place, visit_type(session, place.id, code), None


# The rows a slot names (parameters: practice_id, code, practitioner_id), built once;
# a caller may add columns of its own (:func:`slot_with`).
SLOT_ROWS = (
    select(Practice, VisitType, Practitioner)
    .join(VisitType, and_(VisitType.practice_id == Practice.id,
                          VisitType.code == bindparam("code")))
    .join(Practitioner, and_(Practitioner.practice_id == Practice.id,
                             Practitioner.id == bindparam("practitioner_id")))
    .where(Practice.id == bindparam("practice_id"))
)


def slot(session: Session, wanted: Slot) -> tuple[Practice, VisitType, Practitioner]:
    """The rows a slot names, after checking the slot is well formed."""
    place, kind, person, _more = slot_with(session, wanted, SLOT_ROWS, {})
    return place, kind, person


def slot_with(
    session: Session, wanted: Slot, statement: Select[Any], params: dict[str, Any]
) -> tuple[Practice, VisitType, Practitioner, tuple[Any, ...]]:
    """:func:`slot` in the same round trip as more columns: ``statement`` is
    :data:`SLOT_ROWS` with columns added (``params`` fill their parameters), whose values
    come back as the last item (None when a row is missing and the error is raised)."""
    starts_at = require_aware(wanted.starts_at, "slot start")
    ends_at = require_aware(wanted.ends_at, "slot end")
    found = session.execute(statement, {
        **params, "practice_id": wanted.practice_id, "code": wanted.visit_type_code,
        "practitioner_id": wanted.practitioner_id}).first()
    if found is not None:
        place, kind, person, *more = found
    else:  # when a row is missing, the lookups below say which
        place = practice(session, wanted.practice_id)
        kind = visit_type(session, place.id, wanted.visit_type_code)
        person = practitioner(session, place.id, wanted.practitioner_id)
        more = []
    if not on_cell_grid(starts_at):
        raise InvalidSlot("a slot starts on a 5-minute boundary")
    if ends_at - starts_at != timedelta(minutes=kind.duration_minutes):
        raise InvalidSlot(
            f"a {kind.code} slot lasts {kind.duration_minutes} minutes, not "
            f"{int((ends_at - starts_at).total_seconds() // 60)}"
        )
    return place, kind, person, tuple(more)
