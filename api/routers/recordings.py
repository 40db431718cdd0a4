"""Call recordings: listed and played (decrypted on the fly, Range) by the secretaries of
the practice. Every playback is audited; admins and doctors have no access."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from api.deps import Context, Secretary, practice_id_of
from api.errors import COMMON_RESPONSES, not_found, responses
from api.routers.media_response import AUDIO_RESPONSES, media_response
from api.schemas.media import RecordingOut
from storage import audit
from storage.models import ObjectKind, ObjectStatus, VaultObject

router = APIRouter(prefix="/recordings", tags=["recordings"], responses=COMMON_RESPONSES)

RecordingId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
LIVE = (ObjectStatus.COMPLETE, ObjectStatus.TRUNCATED)


def _out(row: VaultObject) -> RecordingOut:
    return RecordingOut(id=row.id, call_id=row.call_id, practice_id=row.practice_id,
                        created_at=row.created_at, size=row.size,
                        truncated=row.status is ObjectStatus.TRUNCATED)


@router.get("", response_model=list[RecordingOut])
def list_recordings(
    staff: Secretary,
    ctx: Context,
    practice: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RecordingOut]:
    """Recordings of the caller's practices (or one of them), newest first."""
    practices = [practice_id_of(ctx, staff, practice)] if practice else sorted(
        staff.practice_ids)
    with ctx.db.read_session() as session:
        rows = session.scalars(
            select(VaultObject).where(VaultObject.kind == ObjectKind.RECORDING,
                                      VaultObject.status.in_(LIVE),
                                      VaultObject.practice_id.in_(practices))
            .order_by(VaultObject.created_at.desc()).limit(limit)
        )
        return [_out(r) for r in rows]


@router.get("/{recording_id}/audio", response_class=StreamingResponse,
            responses={**AUDIO_RESPONSES, **responses(416)})
def play(recording_id: RecordingId, request: Request, staff: Secretary,
         ctx: Context) -> StreamingResponse:
    """The recording as WAV, decrypted as it is sent; supports Range (audited)."""
    with ctx.db.read_session() as session:
        row = session.get(VaultObject, recording_id)
    if row is None or row.kind != ObjectKind.RECORDING or row.status not in LIVE or \
            row.practice_id not in staff.practice_ids:
        raise not_found("recording")
    range_header = request.headers.get("range")
    response = media_response(ctx.vault, row.id, row.media_type, range_header)
    with ctx.db.session() as session:
        audit.record(session, actor=staff.actor, action="recording.play",
                     object_type="vault_object", object_id=row.id, patient_id=row.patient_id,
                     practice_id=row.practice_id, purpose="secretariat work",
                     detail={"range": (range_header or "all")[:60], "call_id": row.call_id})
    return response
