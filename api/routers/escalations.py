"""The escalation queue: calls waiting for a human, live (SSE), claim and resolve.

The list and the stream carry codes and ids only. Who the caller is and what they said
come from ``GET /escalations/{id}``, an audited read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import Context, ObjectId, Secretary, check_practice
from api.errors import COMMON_RESPONSES, ApiError, not_found, responses
from api.schemas.calls import (
    CallbackIn,
    CallerNumberOut,
    CallerOut,
    EscalationDetailOut,
    EscalationOut,
    ResolveIn,
    escalation_out,
)
from api.services.escalation_feed import FeedEvent
from api.services.media import read_text
from api.services.sessions import Principal
from storage import audit, escalations
from storage.escalations import EscalationConflict, EscalationView
from storage.models import ObjectKind, VaultObject
from storage.new_patients import is_provisional
from storage.patients import PatientDirectory, UnknownPatient
from storage.vault import VaultError, VaultIntegrityError

router = APIRouter(prefix="/escalations", tags=["escalations"], responses=COMMON_RESPONSES)

HEARTBEAT_SECONDS = 15.0


def _visible(ctx: Context, staff: Principal, escalation_id: int) -> EscalationView:
    found = escalations.get(ctx.db, escalation_id)
    if found is None:
        raise not_found("escalation")
    check_practice(staff, found.practice_id, "escalation")
    return found


@router.get("", response_model=list[EscalationOut])
def open_queue(staff: Secretary, ctx: Context) -> list[EscalationOut]:
    """Waiting and claimed calls of the caller's practices, urgent first, then oldest."""
    return [escalation_out(v) for v in
            escalations.open_escalations(ctx.db, sorted(staff.practice_ids))]


def _sse(event: str, data: dict[str, object], event_id: str | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, default=str, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "Server-Sent Events: `snapshot` (the open queue), then "
                                    "`waiting`, `claimed`, `resolved`, each an escalation"}},
)
async def stream(
    request: Request,
    staff: Secretary,
    ctx: Context,
    max_events: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    max_seconds: Annotated[float | None, Query(gt=0, le=86_400)] = None,
) -> StreamingResponse:
    """Live queue for the console: first a ``snapshot`` event, then one event per change.

    ``max_events``/``max_seconds`` end the stream early (for tests and simple clients);
    without them it lasts as long as the connection (comment heartbeats every 15 s).
    """
    practices = frozenset(staff.practice_ids)
    listener = ctx.feed.listen(practices)
    snapshot = escalations.open_escalations(ctx.db, sorted(practices))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds if max_seconds else None

    async def events() -> AsyncIterator[bytes]:
        sent = 0
        try:
            yield _sse("snapshot", {"escalations": [
                escalation_out(v).model_dump(mode="json") for v in snapshot]})
            sent += 1
            while max_events is None or sent < max_events:
                wait = HEARTBEAT_SECONDS
                if deadline is not None:
                    wait = min(wait, deadline - loop.time())
                    if wait <= 0:
                        return
                try:
                    event: FeedEvent = await asyncio.wait_for(listener.queue.get(), wait)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keep-alive\n\n"
                    continue
                out = escalation_out(event.escalation)
                yield _sse(event.kind, out.model_dump(mode="json"),
                           f"{out.id}.{event.escalation.revision}")
                sent += 1
        finally:
            ctx.feed.leave(listener)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})


@router.get("/{escalation_id}", response_model=EscalationDetailOut)
def escalation_detail(escalation_id: ObjectId, staff: Secretary,
                      ctx: Context) -> EscalationDetailOut:
    """The escalation with the verified caller's identity and the transcript so far.

    Audited as a read of the patient record and of the transcript.
    """
    found = _visible(ctx, staff, escalation_id)
    base = escalation_out(found)
    caller, transcript = None, None
    transcript_id = base.transcript_object_id
    if transcript_id is not None:  # read before the audited transaction (SQLite: one writer)
        with ctx.db.read_session() as session:
            row = session.get(VaultObject, transcript_id)
            usable = row is not None and row.kind == ObjectKind.TRANSCRIPT and \
                row.practice_id == found.practice_id
        if usable:
            try:
                transcript, _cut = read_text(ctx.vault, transcript_id)
            except (VaultError, VaultIntegrityError):
                transcript = None
    with ctx.db.session() as session:
        if found.patient_id is not None:
            try:
                record = PatientDirectory(session).get(found.patient_id, found.practice_id)
            except UnknownPatient:
                record = None
            if record is not None:
                caller = CallerOut(patient_id=record.id, code=record.code,
                                   first_name=record.first_name, last_name=record.last_name,
                                   birth_date=record.birth_date.isoformat(),
                                   phone=record.phone,
                                   provisional=is_provisional(session, record.id))
                audit.record(session, actor=staff.actor, action="patient.read",
                             object_type="patient", object_id=None, patient_id=record.id,
                             practice_id=found.practice_id, purpose="escalated call",
                             detail={"escalation": found.id})
        if transcript is not None:
            audit.record(session, actor=staff.actor, action="transcript.read",
                         object_type="vault_object", object_id=transcript_id,
                         patient_id=found.patient_id, practice_id=found.practice_id,
                         purpose="escalated call", detail={"escalation": found.id})
    return EscalationDetailOut(**base.model_dump(), caller=caller, transcript=transcript)


@router.post("/{escalation_id}/claim", response_model=EscalationOut, responses=responses(409))
def claim(escalation_id: ObjectId, staff: Secretary, ctx: Context) -> EscalationOut:
    """Take the call (only one secretary can)."""
    found = _visible(ctx, staff, escalation_id)
    try:
        done = escalations.claim(ctx.db, found.id, staff.login)
    except EscalationConflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    with ctx.db.session() as session:
        audit.record(session, actor=staff.actor, action="escalation.claim",
                     object_type="escalation", object_id=str(found.id),
                     practice_id=found.practice_id, purpose="escalated call")
    return escalation_out(done)


@router.post("/{escalation_id}/resolve", response_model=EscalationOut,
             responses=responses(409))
def resolve(escalation_id: ObjectId, body: ResolveIn, staff: Secretary,
            ctx: Context) -> EscalationOut:
    found = _visible(ctx, staff, escalation_id)
    try:
        done = escalations.resolve(ctx.db, found.id, staff.login, body.resolution)
    except EscalationConflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    with ctx.db.session() as session:
        audit.record(session, actor=staff.actor, action="escalation.resolve",
                     object_type="escalation", object_id=str(found.id),
                     practice_id=found.practice_id, purpose="escalated call",
                     detail={"resolution": body.resolution})
    return escalation_out(done)


@router.get("/{escalation_id}/caller-number", response_model=CallerNumberOut)
def caller_number(escalation_id: ObjectId, staff: Secretary, ctx: Context) -> CallerNumberOut:
    """The number to call back, opened for the secretary who asked (a click in the
    console); audited as ``escalation.caller_number.read``."""
    found = _visible(ctx, staff, escalation_id)
    number = escalations.caller_number(ctx.db, found.id)
    if number is not None:
        with ctx.db.session() as session:
            audit.record(session, actor=staff.actor, action="escalation.caller_number.read",
                         object_type="escalation", object_id=str(found.id),
                         patient_id=found.patient_id, practice_id=found.practice_id,
                         purpose="call the caller back")
    return CallerNumberOut(number=number)


@router.post("/{escalation_id}/callbacks", response_model=EscalationOut,
             responses=responses(409))
def record_callback(escalation_id: ObjectId, body: CallbackIn, staff: Secretary,
                    ctx: Context) -> EscalationOut:
    """A call-back attempt and its outcome ("rappeler"): reached resolves the
    escalation as ``called_back``; message left or no answer keep it for another try."""
    found = _visible(ctx, staff, escalation_id)
    try:
        done = escalations.record_callback(ctx.db, found.id, staff.login, body.outcome)
    except EscalationConflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    with ctx.db.session() as session:
        audit.record(session, actor=staff.actor, action="escalation.callback",
                     object_type="escalation", object_id=str(found.id),
                     practice_id=found.practice_id, purpose="call the caller back",
                     detail={"outcome": body.outcome})
    return escalation_out(done)
