"""The audit trail (admin): query events, verify the chain, the periodic access review."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import Admin, Context
from api.errors import COMMON_RESPONSES, ApiError
from api.schemas.admin import (
    AccessReportOut,
    ActorSummaryOut,
    AuditEventOut,
    FlagOut,
    PatientSummaryOut,
    VerificationOut,
)
from storage import audit
from storage.models import AuditEvent

router = APIRouter(prefix="/audit", tags=["audit"], responses=COMMON_RESPONSES)

MAX_ID = 2_147_483_647


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ApiError(422, "invalid_request", f"{name}: give a time zone (e.g. Z)")
    if value is not None and not datetime(2000, 1, 1, tzinfo=UTC) <= value <= datetime(
            2200, 1, 1, tzinfo=UTC):
        raise ApiError(422, "invalid_request", f"{name}: out of range")
    return value


@router.get("/events", response_model=list[AuditEventOut])
def events(
    admin: Admin,
    ctx: Context,
    actor: Annotated[str | None, Query(max_length=128, pattern=r"^[\x20-\x7e]+$")] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_.]+$")] = None,
    patient_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEventOut]:
    """Events in order, filtered; page with ``after_seq`` (the last ``seq`` seen)."""
    query = select(AuditEvent).where(AuditEvent.seq > after_seq)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action == action)
    if patient_id is not None:
        query = query.where(AuditEvent.patient_id == patient_id)
    if (start := _aware("since", since)) is not None:
        query = query.where(AuditEvent.at >= start)
    if (end := _aware("until", until)) is not None:
        query = query.where(AuditEvent.at < end)
    with ctx.db.read_session() as session:
        rows = session.scalars(query.order_by(AuditEvent.seq).limit(limit))
        return [AuditEventOut(seq=r.seq, at=r.at, actor=r.actor, action=r.action,
                              object_type=r.object_type, object_id=r.object_id,
                              purpose=r.purpose, patient_id=r.patient_id,
                              practice_id=r.practice_id, detail=r.detail) for r in rows]


@router.get("/verify", response_model=VerificationOut)
def verify(admin: Admin, ctx: Context) -> VerificationOut:
    """Replay the whole chain: any edited, inserted or deleted event is a problem."""
    with ctx.db.read_session() as session:
        result = audit.verify(session, ctx.keyring)
    return VerificationOut(intact=result.intact, events=result.events,
                           last_checkpoint_seq=result.last_checkpoint_seq,
                           problems=result.problems[:100], summary=result.summary())


@router.get("/report", response_model=AccessReportOut)
def access_review(
    admin: Admin,
    ctx: Context,
    since: datetime,
    until: datetime | None = None,
    bulk_threshold: Annotated[int, Query(ge=1, le=10_000)] = 20,
) -> AccessReportOut:
    """Who read what in [since, until): per actor, per patient, and unusual patterns.

    Running the review is itself audited (``audit.report``).
    """
    start = _aware("since", since)
    end = _aware("until", until) or ctx.clock() + timedelta(seconds=1)
    assert start is not None
    if end <= start:
        raise ApiError(422, "invalid_request", "until must be after since")
    with ctx.db.session() as session:
        review = audit.report(session, start, end, bulk_threshold=bulk_threshold,
                              default_zone=ctx.settings.timezone)
        audit.record(session, actor=admin.actor, action="audit.report", object_type="audit",
                     object_id=None, purpose="periodic access review",
                     detail={"since": start.isoformat(), "until": end.isoformat()})
    return AccessReportOut(
        since=review.since, until=review.until, events=review.events,
        actors=[ActorSummaryOut(actor=a.actor, reads=a.reads, changes=a.changes,
                                patients=len(a.patients)) for a in review.actors],
        patients=[PatientSummaryOut(label=p.label, reads=p.reads, changes=p.changes,
                                    actors=sorted(p.actors)) for p in review.patients],
        flags=[FlagOut(kind=f.kind, actor=f.actor, at=f.at, text=f.text) for f in review.flags],
    )
