"""Liveness and Prometheus metrics (no authentication; no health data in either)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.deps import Context
from api.schemas.admin import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(ctx: Context, response: Response) -> HealthOut:
    """``ok`` when the database answers."""
    try:
        with ctx.db.read_session() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        response.status_code = 503
        return HealthOut(status="unavailable", database="unreachable")
    return HealthOut(status="ok", database="ok")


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}},
                             "description": "Prometheus text exposition format"}})
def metrics(ctx: Context) -> Response:
    return Response(generate_latest(ctx.metrics), media_type=CONTENT_TYPE_LATEST)
