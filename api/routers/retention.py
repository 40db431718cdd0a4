"""Retention settings (admin): how long each kind of encrypted object is kept."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Admin, Context
from api.errors import COMMON_RESPONSES
from api.schemas.admin import RetentionOut
from storage.vault.retention_policy import RECORDING_CAP_DAYS

router = APIRouter(prefix="/retention", tags=["retention"], responses=COMMON_RESPONSES)


@router.get("", response_model=RetentionOut)
def retention_settings(admin: Admin, ctx: Context) -> RetentionOut:
    """The policy in force (recordings are capped at 180 days whatever is configured)."""
    policy = ctx.policy
    return RetentionOut(
        recording_days=policy.recording_days,
        voicemail_days_after_handled=policy.voicemail_days_after_handled,
        transcript_days=policy.transcript_days, export_days=policy.export_days,
        recording_cap_days=RECORDING_CAP_DAYS,
    )
