"""Voicemail: a doctor's inbox, playback decrypted on the fly (Range), transcript, handled.

A doctor hears the messages addressed to him, and those of his practice's shared box
when granted; a secretary hears the shared boxes of her practices. Other messages are
404. Every playback and transcript read is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from api.deps import Context, SecretaryOrDoctor
from api.errors import COMMON_RESPONSES, not_found, responses
from api.routers.media_response import AUDIO_RESPONSES, media_response
from api.schemas.calls import TranscriptOut
from api.schemas.common import Done
from api.schemas.media import VoicemailOut
from api.services.media import pcm_format, read_text
from api.services.sessions import Principal
from storage import audit
from storage.models import ObjectKind, ObjectStatus, StaffRole, VaultObject
from storage.vault import VaultError, VaultIntegrityError

router = APIRouter(prefix="/voicemail", tags=["voicemail"], responses=COMMON_RESPONSES)

MessageId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
LIVE = (ObjectStatus.COMPLETE, ObjectStatus.TRUNCATED)


def may_hear(staff: Principal, practice_id: int | None, practitioner_id: int | None) -> bool:
    """The object rule of voicemail boxes."""
    if practice_id is None or practice_id not in staff.practice_ids:
        return False
    if staff.role is StaffRole.DOCTOR:
        if practitioner_id is not None:
            return practitioner_id == staff.practitioner_id
        return staff.shared_box
    return staff.role is StaffRole.SECRETARY and practitioner_id is None


def _transcript_id(session: object, message: VaultObject) -> str | None:
    """The transcript of ``message``: same call, same practice, same box.

    The call id is the caller's SIP Call-ID, which a caller may copy from another call:
    on its own it must never lead to another practice's (or doctor's) transcript.
    """
    if message.call_id is None or message.practice_id is None:
        return None
    query = select(VaultObject.id).where(
        VaultObject.kind == ObjectKind.TRANSCRIPT, VaultObject.call_id == message.call_id,
        VaultObject.practice_id == message.practice_id, VaultObject.status.in_(LIVE),
    )
    query = query.where(VaultObject.practitioner_id == message.practitioner_id) \
        if message.practitioner_id is not None else \
        query.where(VaultObject.practitioner_id.is_(None))
    return session.scalar(query.order_by(VaultObject.created_at.desc()).limit(1))  # type: ignore[attr-defined]


def _out(row: VaultObject, has_transcript: bool) -> VoicemailOut:
    fmt = pcm_format(row.media_type)
    seconds = row.size / (fmt.rate * fmt.channels * fmt.bits // 8) if fmt else 0.0
    return VoicemailOut(
        id=row.id, practice_id=row.practice_id, practitioner_id=row.practitioner_id,
        patient_id=row.patient_id, call_id=row.call_id, created_at=row.created_at,
        handled_at=row.handled_at, duration_seconds=round(seconds, 2),
        truncated=row.status is ObjectStatus.TRUNCATED, has_transcript=has_transcript,
    )


def _message(ctx: Context, staff: Principal, message_id: str) -> tuple[VaultObject, str | None]:
    with ctx.db.read_session() as session:
        row = session.get(VaultObject, message_id)
        if row is None or row.kind != ObjectKind.VOICEMAIL or row.status not in LIVE or \
                not may_hear(staff, row.practice_id, row.practitioner_id):
            raise not_found("message")
        return row, _transcript_id(session, row)


@router.get("", response_model=list[VoicemailOut])
def inbox(
    staff: SecretaryOrDoctor,
    ctx: Context,
    handled: Annotated[bool | None, Query(description="filter on handled or not")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[VoicemailOut]:
    """The messages the caller may hear, newest first (no audio, no text: not audited)."""
    query = select(VaultObject).where(
        VaultObject.kind == ObjectKind.VOICEMAIL, VaultObject.status.in_(LIVE),
        VaultObject.practice_id.in_(sorted(staff.practice_ids)),
    )
    if handled is not None:
        query = query.where(VaultObject.handled_at.is_not(None) if handled
                            else VaultObject.handled_at.is_(None))
    with ctx.db.read_session() as session:
        rows = session.scalars(query.order_by(VaultObject.created_at.desc()))
        found = []
        for row in rows:
            if may_hear(staff, row.practice_id, row.practitioner_id):
                found.append(_out(row, _transcript_id(session, row) is not None))
                if len(found) >= limit:
                    break
        return found


@router.get("/{message_id}", response_model=VoicemailOut)
def message(message_id: MessageId, staff: SecretaryOrDoctor, ctx: Context) -> VoicemailOut:
    row, transcript = _message(ctx, staff, message_id)
    return _out(row, transcript is not None)


@router.get("/{message_id}/audio", response_class=StreamingResponse,
            responses={**AUDIO_RESPONSES, **responses(416)})
def play(message_id: MessageId, request: Request, staff: SecretaryOrDoctor,
         ctx: Context) -> StreamingResponse:
    """The message as WAV (16 kHz mono), decrypted as it is sent; supports Range.

    Each request is an audited playback (with the range asked for).
    """
    row, _transcript = _message(ctx, staff, message_id)
    range_header = request.headers.get("range")
    response = media_response(ctx.vault, row.id, row.media_type, range_header)
    with ctx.db.session() as session:
        audit.record(session, actor=staff.actor, action="voicemail.play",
                     object_type="vault_object", object_id=row.id, patient_id=row.patient_id,
                     practice_id=row.practice_id, purpose="voicemail listened to",
                     detail={"range": (range_header or "all")[:60]})
    return response


@router.get("/{message_id}/transcript", response_model=TranscriptOut)
def transcript(message_id: MessageId, staff: SecretaryOrDoctor, ctx: Context) -> TranscriptOut:
    """The message's transcript (audited read)."""
    row, transcript_id = _message(ctx, staff, message_id)
    if transcript_id is None:
        raise not_found("transcript")
    try:
        text, truncated = read_text(ctx.vault, transcript_id)
    except (VaultError, VaultIntegrityError):
        raise not_found("transcript") from None
    with ctx.db.session() as session:
        audit.record(session, actor=staff.actor, action="transcript.read",
                     object_type="vault_object", object_id=transcript_id,
                     patient_id=row.patient_id, practice_id=row.practice_id,
                     purpose="voicemail read", detail={"voicemail": row.id})
    return TranscriptOut(object_id=transcript_id, text=text, truncated=truncated)


@router.post("/{message_id}/handled", response_model=Done, responses=responses(409))
def mark_handled(message_id: MessageId, staff: SecretaryOrDoctor, ctx: Context) -> Done:
    """The message was dealt with: its retention period starts now."""
    row, _transcript = _message(ctx, staff, message_id)
    if row.handled_at is None:
        ctx.vault.mark_handled(row.id, ctx.clock())
        with ctx.db.session() as session:
            audit.record(session, actor=staff.actor, action="voicemail.mark_handled",
                         object_type="vault_object", object_id=row.id,
                         patient_id=row.patient_id, practice_id=row.practice_id,
                         purpose="voicemail dealt with")
    return Done()
