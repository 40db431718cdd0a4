"""Liveness and Prometheus metrics (no authentication; no health data in either)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.deps import Context
from api.schemas.admin import HealthOut
from foundation.front_status import read_trunk_status

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(ctx: Context, response: Response) -> HealthOut:
    """``ok`` when the database answers; the SIP accounts' state beside it (a trunk that
    is not registered does not fail the check: the API still serves)."""
    trunks = read_trunk_status(ctx.settings)
    try:
        with ctx.db.read_session() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        response.status_code = 503
        return HealthOut(status="unavailable", database="unreachable", trunks=trunks)
    return HealthOut(status="ok", database="ok", trunks=trunks)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}},
                             "description": "Prometheus text exposition format"}})
def metrics(ctx: Context) -> Response:
    return Response(generate_latest(ctx.metrics), media_type=CONTENT_TYPE_LATEST)
