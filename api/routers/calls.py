"""The calls log (time, duration, outcome, verified, intent) and call transcripts.

Admins see the log of every practice but never what was said; secretaries see the
calls of their practices and their transcripts (each read audited; recordings are in
:mod:`api.routers.recordings`). Doctors have no access to the calls log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from api.deps import AdminOrSecretary, Context, Secretary, check_practice, practice_id_of
from api.errors import COMMON_RESPONSES, ApiError, not_found
from api.schemas.calls import CallOut, TranscriptOut
from api.services.media import read_text
from api.services.sessions import Principal
from storage import audit
from storage.models import CallRecord, ObjectKind, ObjectStatus, StaffRole, VaultObject
from storage.vault import VaultError, VaultIntegrityError

router = APIRouter(prefix="/calls", tags=["calls"], responses=COMMON_RESPONSES)

CallId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:@-]{1,64}$")]


def _out(row: CallRecord) -> CallOut:
    return CallOut(
        id=row.id, practice_id=row.practice_id, started_at=row.started_at,
        ended_at=row.ended_at, duration_seconds=row.duration_seconds, outcome=row.outcome,
        verified=row.verified, intent=row.intent, patient_id=row.patient_id,
        recording_id=row.recording_object_id,
        has_transcript=row.transcript_object_id is not None,
    )


def _visible_call(ctx: Context, staff: Principal, call_id: str) -> CallRecord:
    with ctx.db.read_session() as session:
        row = session.get(CallRecord, call_id)
    if row is None:
        raise not_found("call")
    check_practice(staff, row.practice_id, "call")
    return row


def _live_object(ctx: Context, object_id: str | None, kind: ObjectKind) -> VaultObject:
    if object_id is None:
        raise not_found(kind.value)
    with ctx.db.read_session() as session:
        row = session.get(VaultObject, object_id)
    if row is None or row.kind != kind or row.status not in (ObjectStatus.COMPLETE,
                                                             ObjectStatus.TRUNCATED):
        raise not_found(kind.value)
    return row


@router.get("", response_model=list[CallOut])
def list_calls(
    staff: AdminOrSecretary,
    ctx: Context,
    practice: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CallOut]:
    """Calls, newest first, of one practice or of every practice the caller sees."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ApiError(422, "invalid_request", f"{name}: give a time zone")
    query = select(CallRecord)
    if practice is not None:
        query = query.where(CallRecord.practice_id == practice_id_of(ctx, staff, practice))
    elif staff.role is not StaffRole.ADMIN:
        query = query.where(CallRecord.practice_id.in_(sorted(staff.practice_ids)))
    if since is not None:
        query = query.where(CallRecord.started_at >= since)
    if until is not None:
        query = query.where(CallRecord.started_at < until)
    with ctx.db.read_session() as session:
        rows = session.scalars(query.order_by(CallRecord.started_at.desc()).limit(limit))
        return [_out(r) for r in rows]


@router.get("/{call_id}", response_model=CallOut)
def get_call(call_id: CallId, staff: AdminOrSecretary, ctx: Context) -> CallOut:
    return _out(_visible_call(ctx, staff, call_id))


@router.get("/{call_id}/transcript", response_model=TranscriptOut)
def call_transcript(call_id: CallId, staff: Secretary, ctx: Context) -> TranscriptOut:
    """What was said during the call (audited read)."""
    call = _visible_call(ctx, staff, call_id)
    obj = _live_object(ctx, call.transcript_object_id, ObjectKind.TRANSCRIPT)
    try:
        text, truncated = read_text(ctx.vault, obj.id)
    except (VaultError, VaultIntegrityError):
        raise not_found("transcript") from None
    with ctx.db.session() as session:
        audit.record(session, actor=staff.actor, action="transcript.read",
                     object_type="vault_object", object_id=obj.id, patient_id=call.patient_id,
                     practice_id=call.practice_id, purpose="secretariat work",
                     detail={"call_id": call.id})
    return TranscriptOut(object_id=obj.id, text=text, truncated=truncated)
