"""Practitioners' own calendars: admins link them and set what they do; staff see state.

No route touches the network: linking stores the sealed address and credentials and asks
the engine's calendar job to sync; "sync now" only asks too. Changes are audited by
:mod:`calendars.links` with the admin as actor. Nothing here is health data (ids,
times, counts), so the reads are not audited.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from api.deps import (
    Admin,
    AdminOrSecretary,
    Context,
    ObjectId,
    PracticeSlug,
    SecretaryOrDoctor,
    Staff,
    practice_id_of,
)
from api.errors import COMMON_RESPONSES, ApiError, not_found
from api.schemas.calendars import (
    CalendarLinkIn,
    CalendarSettingsIn,
    CalendarSettingsOut,
    CalendarsOut,
    CalendarStatusOut,
    ConflictOut,
    SyncRequestedOut,
)
from api.schemas.common import Done
from calendars import links
from calendars.credentials import CalendarSourceInvalid, checked_source
from scheduling.clock import local_day_bounds
from storage.models import Practice, Practitioner, StaffRole

PURPOSE = "practitioners' calendars configured by an admin"

router = APIRouter(tags=["calendars"], responses=COMMON_RESPONSES)


def _interval(ctx: Context) -> timedelta:
    return timedelta(seconds=ctx.settings.calendars.sync_interval_seconds)


def _settings_out(view: links.CalendarSettingsView) -> CalendarSettingsOut:
    return CalendarSettingsOut(**{k: v for k, v in asdict(view).items() if k != "practice_id"})


def _practitioner(ctx: Context, practice_id: int, practitioner_id: int) -> None:
    with ctx.db.read_session() as session:
        person = session.get(Practitioner, practitioner_id)
    if person is None or person.practice_id != practice_id:
        raise not_found("practitioner")


@router.get("/practices/{practice}/calendars", response_model=CalendarsOut)
def calendars_of(practice: PracticeSlug, staff: Staff, ctx: Context) -> CalendarsOut:
    """Each practitioner's calendar state and the practice's calendar settings."""
    place_id = practice_id_of(ctx, staff, practice)
    with ctx.db.read_session() as session:
        found = links.statuses(session, place_id, interval=_interval(ctx), now=ctx.clock())
        view = links.settings_of(session, place_id)
    if staff.role is StaffRole.DOCTOR:
        found = [s for s in found if s.practitioner_id == staff.practitioner_id]
    return CalendarsOut(settings=_settings_out(view),
                        practitioners=[CalendarStatusOut(**asdict(s)) for s in found])


@router.put("/practices/{practice}/practitioners/{practitioner_id}/calendar",
            response_model=CalendarStatusOut)
def link(practice: PracticeSlug, practitioner_id: ObjectId, body: CalendarLinkIn,
         admin: Admin, ctx: Context) -> CalendarStatusOut:
    """Link (or replace) a practitioner's calendar; the engine syncs it within seconds."""
    place_id = practice_id_of(ctx, admin, practice)
    _practitioner(ctx, place_id, practitioner_id)
    try:
        source = checked_source(body.kind, body.url, body.username, body.password)
    except CalendarSourceInvalid as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    with ctx.db.session() as session:
        links.link_calendar(session, ctx.keyring, place_id, practitioner_id, source,
                            owner_addresses=body.owner_address, actor=admin.actor,
                            purpose=PURPOSE, now=ctx.clock())
    return _status(ctx, place_id, practitioner_id)


def _status(ctx: Context, place_id: int, practitioner_id: int) -> CalendarStatusOut:
    with ctx.db.read_session() as session:
        found = links.statuses(session, place_id, interval=_interval(ctx), now=ctx.clock())
    for item in found:
        if item.practitioner_id == practitioner_id:
            return CalendarStatusOut(**asdict(item))
    raise not_found("practitioner")


@router.delete("/practices/{practice}/practitioners/{practitioner_id}/calendar",
               response_model=Done)
def unlink(practice: PracticeSlug, practitioner_id: ObjectId, admin: Admin,
           ctx: Context) -> Done:
    """Forget a practitioner's calendar: credentials, imported busy time, queue."""
    place_id = practice_id_of(ctx, admin, practice)
    _practitioner(ctx, place_id, practitioner_id)
    with ctx.db.session() as session:
        done = links.unlink_calendar(session, place_id, practitioner_id, actor=admin.actor,
                                     purpose=PURPOSE)
    if not done:
        raise not_found("calendar")
    return Done()


@router.post("/practices/{practice}/calendars/sync", response_model=SyncRequestedOut)
def sync_now(practice: PracticeSlug, staff: AdminOrSecretary, ctx: Context,
             practitioner_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
             ) -> SyncRequestedOut:
    """Ask the engine's calendar job to sync now (it runs every few seconds)."""
    place_id = practice_id_of(ctx, staff, practice)
    with ctx.db.session() as session:
        count = links.request_sync(session, place_id, practitioner_id, actor=staff.actor,
                                   now=ctx.clock())
    return SyncRequestedOut(requested=count)


@router.put("/practices/{practice}/calendar-settings", response_model=CalendarSettingsOut)
def change_settings(practice: PracticeSlug, body: CalendarSettingsIn, admin: Admin,
                    ctx: Context) -> CalendarSettingsOut:
    """Change what blocks slots and whether patient names go to the calendars (audited)."""
    place_id = practice_id_of(ctx, admin, practice)
    with ctx.db.session() as session:
        view = links.update_settings(
            session, place_id, tentative_blocks=body.tentative_blocks,
            declined_blocks=body.declined_blocks,
            publish_patient_identity=body.publish_patient_identity,
            actor=admin.actor, purpose=PURPOSE, now=ctx.clock())
    return _settings_out(view)


@router.get("/practices/{practice}/calendar-conflicts", response_model=list[ConflictOut])
def conflicts(practice: PracticeSlug, staff: SecretaryOrDoctor, ctx: Context, day: date,
              days: Annotated[int, Query(ge=1, le=31)] = 1) -> list[ConflictOut]:
    """Booked appointments that the practitioner's own calendar overlaps (to move)."""
    place_id = practice_id_of(ctx, staff, practice)
    if not date(2000, 1, 1) <= day <= date(2200, 1, 1):
        raise ApiError(422, "invalid_request", "day: out of range")
    with ctx.db.read_session() as session:
        zone = ZoneInfo(session.get_one(Practice, place_id).timezone)
        start, _ = local_day_bounds(day, zone)
        _, end = local_day_bounds(day + timedelta(days=days - 1), zone)
        mine = staff.practitioner_id if staff.role is StaffRole.DOCTOR else None
        if staff.role is StaffRole.DOCTOR and mine is None:
            return []
        found = links.open_conflicts(session, place_id, start, end, mine)
    return [ConflictOut(**asdict(c)) for c in found]
