"""Find practices, practitioners and visit types by the names people use, or fail clearly."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduling.errors import UnknownPractice, UnknownPractitioner, UnknownVisitType
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
