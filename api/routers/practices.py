"""Practices, practitioners, weekly opening hours and visit types.

Everyone reads the practices they are assigned to (admins: all); only admins change them
(each change is audited by :mod:`scheduling.practices` with the admin as actor). A change
the set-up refuses (``PracticeConfigError``: a slug taken, overlapping hours...) is a 409,
answered in :mod:`api.errors`.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import Admin, Context, ObjectId, PracticeSlug, Staff, check_practice, sees_practice
from api.errors import COMMON_RESPONSES, ApiError, not_found, responses
from api.schemas.practices import (
    OpeningIn,
    OpeningOut,
    PracticeDetailOut,
    PracticeIn,
    PracticeOut,
    PractitionerIn,
    PractitionerOut,
    PractitionerPatch,
    ProfileOut,
    ProfilePatch,
    VisitTypeIn,
    VisitTypeOut,
)
from scheduling import lookup, practice_profile, practices
from storage.models import (
    OpeningTemplate,
    Practice,
    Practitioner,
    StaffPractice,
    StaffRole,
    StaffUser,
    VisitType,
)

PURPOSE = "practice configuration"

router = APIRouter(prefix="/practices", tags=["practices"], responses=COMMON_RESPONSES)


def _practice_out(row: Practice) -> PracticeOut:
    return PracticeOut(id=row.id, slug=row.slug, name=row.name, timezone=row.timezone,
                       phone_number=row.phone_number)


def _practitioner_out(row: Practitioner) -> PractitionerOut:
    return PractitionerOut(id=row.id, slug=row.slug, name=row.display_name,
                           specialty=row.specialty, active=row.active,
                           accepts_new_patients=row.accepts_new_patients,
                           alert_address=row.alert_address)


def _visit_type_out(row: VisitType) -> VisitTypeOut:
    return VisitTypeOut(
        code=row.code, label=row.label, duration_minutes=row.duration_minutes,
        phone_bookable=row.phone_bookable, new_patients_allowed=row.new_patients_allowed,
        min_book_notice_minutes=row.min_book_notice_minutes,
        min_cancel_notice_minutes=row.min_cancel_notice_minutes,
    )


def _visible(session: Session, staff: Staff, slug: str) -> Practice:
    place = lookup.practice(session, slug)  # or UnknownPractice: 404
    check_practice(staff, place.id)
    return place


@router.get("", response_model=list[PracticeOut])
def list_practices(staff: Staff, ctx: Context) -> list[PracticeOut]:
    with ctx.db.read_session() as session:
        rows = session.scalars(select(Practice).order_by(Practice.slug))
        return [_practice_out(r) for r in rows if sees_practice(staff, r.id)]


@router.post("", response_model=PracticeOut, status_code=status.HTTP_201_CREATED,
             responses=responses(409))
def create_practice(body: PracticeIn, admin: Admin, ctx: Context) -> PracticeOut:
    with ctx.db.session() as session:
        row = practices.create_practice(session, slug=body.slug, name=body.name,
                                        timezone=body.timezone,
                                        phone_number=body.phone_number,
                                        actor=admin.actor, purpose=PURPOSE)
        return _practice_out(row)


@router.get("/{practice}", response_model=PracticeDetailOut)
def get_practice(practice: PracticeSlug, staff: Staff, ctx: Context) -> PracticeDetailOut:
    """The practice with its practitioners and visit types."""
    with ctx.db.read_session() as session:
        place = _visible(session, staff, practice)
        people = session.scalars(select(Practitioner).where(
            Practitioner.practice_id == place.id).order_by(Practitioner.id))
        kinds = session.scalars(select(VisitType).where(
            VisitType.practice_id == place.id).order_by(VisitType.id))
        return PracticeDetailOut(
            **_practice_out(place).model_dump(),
            practitioners=[_practitioner_out(p) for p in people],
            visit_types=[_visit_type_out(k) for k in kinds],
        )


@router.post("/{practice}/practitioners", response_model=PractitionerOut,
             status_code=status.HTTP_201_CREATED, responses=responses(409))
def add_practitioner(practice: PracticeSlug, body: PractitionerIn, admin: Admin,
                     ctx: Context) -> PractitionerOut:
    with ctx.db.session() as session:
        place = _visible(session, admin, practice)
        row = practices.add_practitioner(session, place.id, body.slug, body.name,
                                         body.specialty, actor=admin.actor,
                                         purpose=PURPOSE)
        return _practitioner_out(row)


@router.get("/{practice}/practitioners/{practitioner_id}/opening", response_model=OpeningOut)
def get_opening(practice: PracticeSlug, practitioner_id: ObjectId, staff: Staff,
                ctx: Context) -> OpeningOut:
    with ctx.db.read_session() as session:
        place = _visible(session, staff, practice)
        person = session.get(Practitioner, practitioner_id)
        if person is None or person.practice_id != place.id:
            raise not_found("practitioner")
        rows = session.scalars(select(OpeningTemplate).where(
            OpeningTemplate.practitioner_id == person.id).order_by(
            OpeningTemplate.weekday, OpeningTemplate.start_time))
        opening: dict[str, list[str]] = {}
        for row in rows:
            opening.setdefault(practices.WEEKDAYS[row.weekday], []).append(
                f"{row.start_time:%H:%M}-{row.end_time:%H:%M}")
        return OpeningOut(practitioner_id=person.id, opening=opening)


@router.put("/{practice}/practitioners/{practitioner_id}/opening", response_model=OpeningOut,
            responses=responses(409))
def set_opening(practice: PracticeSlug, practitioner_id: ObjectId, body: OpeningIn,
                admin: Admin, ctx: Context) -> OpeningOut:
    """Replace the practitioner's weekly opening hours."""
    spans = []
    for day, items in body.opening.items():
        if day not in practices.WEEKDAYS:
            raise ApiError(422, "invalid_request", f"unknown day {day[:10]!r}; use mon..sun")
        for span in items[:20]:
            try:
                spans.append((practices.WEEKDAYS.index(day), *practices.parse_span(span)))
            except ValueError as exc:
                raise ApiError(422, "invalid_request", str(exc)[:200]) from None
    with ctx.db.session() as session:
        place = _visible(session, admin, practice)
        person = session.get(Practitioner, practitioner_id)
        if person is None or person.practice_id != place.id:
            raise not_found("practitioner")
        practices.set_weekly_opening(session, person.id, spans, actor=admin.actor,
                                     purpose=PURPOSE)
    return get_opening(practice, practitioner_id, admin, ctx)


@router.post("/{practice}/visit-types", response_model=VisitTypeOut,
             status_code=status.HTTP_201_CREATED, responses=responses(409))
def add_visit_type(practice: PracticeSlug, body: VisitTypeIn, admin: Admin,
                   ctx: Context) -> VisitTypeOut:
    with ctx.db.session() as session:
        place = _visible(session, admin, practice)
        row = practices.add_visit_type(
            session, place.id, body.code, label=body.label,
            duration_minutes=body.duration_minutes, phone_bookable=body.phone_bookable,
            new_patients_allowed=body.new_patients_allowed,
            min_book_notice_minutes=body.min_book_notice_minutes,
            min_cancel_notice_minutes=body.min_cancel_notice_minutes,
            actor=admin.actor, purpose=PURPOSE,
        )
        return _visit_type_out(row)


def _profile_out(view: practice_profile.ProfileView) -> ProfileOut:
    return ProfileOut(**{**view.as_definition()})


@router.get("/{practice}/profile", response_model=ProfileOut)
def get_profile(practice: PracticeSlug, staff: Staff, ctx: Context) -> ProfileOut:
    """What the practice tells its callers: name said in the greeting, address, access,
    new patients, emergency and on-call numbers, secretaries' line, duplicate window."""
    with ctx.db.read_session() as session:
        place = _visible(session, staff, practice)
        return _profile_out(practice_profile.profile(session, place.id))


@router.patch("/{practice}/profile", response_model=ProfileOut)
def update_profile(practice: PracticeSlug, body: ProfilePatch, admin: Admin,
                   ctx: Context) -> ProfileOut:
    """Change the fields given (``null`` clears a text); audited as
    ``practice_profile.update`` with the names of the fields changed."""
    changes = body.model_dump(exclude_unset=True)
    for name in ("accepts_new_patients", "duplicate_window_days", "alert_recipients",
                 "desk_ring", "hunt_order", "hunt_seconds"):
        if name in changes and changes[name] is None:
            raise ApiError(422, "invalid_request", f"{name} cannot be null")
    with ctx.db.session() as session:
        place = _visible(session, admin, practice)
        if changes.get("hunt_order"):
            _check_hunt_order(session, place.id, changes["hunt_order"])
        view = practice_profile.update_profile(session, place.id, changes,
                                               actor=admin.actor, purpose=PURPOSE)
        return _profile_out(view)


def _check_hunt_order(session: Session, practice_id: int, logins: list[str]) -> None:
    """Each login of a hunt is a secretary of this practice (one line naming the first
    that is not)."""
    known = set(session.scalars(
        select(StaffUser.login).join(StaffPractice, StaffPractice.user_id == StaffUser.id)
        .where(StaffPractice.practice_id == practice_id,
               StaffUser.role == StaffRole.SECRETARY)))
    for login in logins:
        if login not in known:
            raise ApiError(422, "invalid_request",
                           f"hunt_order: {login[:64]!r} is no secretary of this practice")


@router.patch("/{practice}/practitioners/{practitioner_id}", response_model=PractitionerOut)
def update_practitioner(practice: PracticeSlug, practitioner_id: ObjectId,
                        body: PractitionerPatch, admin: Admin, ctx: Context) -> PractitionerOut:
    """Whether the doctor takes new patients, and where their voicemail alerts go."""
    given = body.model_dump(exclude_unset=True)
    with ctx.db.session() as session:
        place = _visible(session, admin, practice)
        person = session.get(Practitioner, practitioner_id)
        if person is None or person.practice_id != place.id:
            raise not_found("practitioner")
        practice_profile.set_practitioner_options(
            session, person.id, accepts_new_patients=given.get("accepts_new_patients"),
            alert_address=given.get("alert_address", ...), actor=admin.actor,
            purpose=PURPOSE)
        return _practitioner_out(person)
