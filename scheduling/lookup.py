"""Find practices, practitioners, visit types and slots by the names people use, or fail clearly."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, select
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


def slot(session: Session, wanted: Slot) -> tuple[Practice, VisitType, Practitioner]:
    """The rows a slot names, after checking the slot is well formed."""
    starts_at = require_aware(wanted.starts_at, "slot start")
    ends_at = require_aware(wanted.ends_at, "slot end")
    found = session.execute(
        select(Practice, VisitType, Practitioner)
        .join(VisitType, and_(VisitType.practice_id == Practice.id,
                              VisitType.code == wanted.visit_type_code))
        .join(Practitioner, and_(Practitioner.practice_id == Practice.id,
                                 Practitioner.id == wanted.practitioner_id))
        .where(Practice.id == wanted.practice_id)
    ).first()  # one round trip; when a row is missing, the lookups below say which
    if found is not None:
        place, kind, person = found
    else:
        place = practice(session, wanted.practice_id)
        kind = visit_type(session, place.id, wanted.visit_type_code)
        person = practitioner(session, place.id, wanted.practitioner_id)
    if not on_cell_grid(starts_at):
        raise InvalidSlot("a slot starts on a 5-minute boundary")
    if ends_at - starts_at != timedelta(minutes=kind.duration_minutes):
        raise InvalidSlot(
            f"a {kind.code} slot lasts {kind.duration_minutes} minutes, not "
            f"{int((ends_at - starts_at).total_seconds() // 60)}"
        )
    return place, kind, person
