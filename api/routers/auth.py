"""Log in (password + TOTP or a recovery code), log out, change password, recovery codes."""

from __future__ import annotations

import asyncio
import math

from fastapi import APIRouter, Request, Response

from api.client import client_address
from api.context import CSRF_COOKIE, SESSION_COOKIE
from api.deps import AnyStaff, Context
from api.errors import COMMON_RESPONSES, ApiError, responses
from api.schemas.auth import (
    LoginIn,
    MeOut,
    PasswordChangeIn,
    RecoveryCodesOut,
    SessionOut,
)
from api.schemas.common import Done
from staff.errors import LoginFailed
from staff.login import slowdown_seconds

router = APIRouter(prefix="/auth", tags=["auth"], responses=COMMON_RESPONSES)


async def _limited(ctx: Context, login: str, address: str, reason: str,
                   wait: float) -> ApiError:
    await asyncio.to_thread(ctx.authenticator.limited, login, reason=reason, source=address,
                            now=ctx.clock())
    return ApiError(429, "rate_limited", "too many login attempts; wait and retry",
                    {"Retry-After": str(max(1, math.ceil(wait)))})


@router.post("/login", response_model=SessionOut, responses=responses(429))
async def login(body: LoginIn, request: Request, response: Response, ctx: Context) -> SessionOut:
    """Open a session with password and TOTP code (or one recovery code).

    Failures are answered slowly and identically, for known and unknown logins alike.
    Attempts are rate limited per client address and per login, and a login that keeps
    failing from one address is blocked there for a time that grows (429 with
    Retry-After); the account itself is never locked by failures.
    """
    address = client_address(request)
    for buckets, key, reason in ((ctx.ip_buckets, address, "address"),
                                 (ctx.login_buckets, body.login.lower(), "login")):
        wait = await asyncio.to_thread(buckets.take, key)
        if wait:
            raise await _limited(ctx, body.login, address, reason, wait)
    wait = await asyncio.to_thread(ctx.login_throttles.wait, body.login, address)
    if wait:
        raise await _limited(ctx, body.login, address, "failures", wait)
    if not body.totp_code and not body.recovery_code:
        raise ApiError(422, "invalid_request", "give totp_code (or a recovery_code)")
    try:
        user = await asyncio.to_thread(
            ctx.authenticator.authenticate, body.login, body.password, totp_code=body.totp_code,
            recovery_code=body.recovery_code, now=ctx.clock(), source=address,
        )
    except LoginFailed:
        failures = await asyncio.to_thread(ctx.login_throttles.failed, body.login, address)
        await asyncio.sleep(slowdown_seconds(failures, ctx.limits.failure_delay_seconds))
        raise ApiError(401, "login_failed",
                       "wrong login, password or code, or the account is disabled"
                       ) from None
    await asyncio.to_thread(ctx.login_throttles.succeeded, body.login, address)
    opened = ctx.sessions.open(user.id, ctx.clock())
    secure = request.url.scheme == "https"
    max_age = int((opened.expires_at - ctx.clock()).total_seconds())
    response.set_cookie(SESSION_COOKIE, opened.token, max_age=max_age, httponly=True,
                        secure=secure, samesite="strict", path="/")
    response.set_cookie(CSRF_COOKIE, opened.csrf_token, max_age=max_age, httponly=False,
                        secure=secure, samesite="strict", path="/")
    return SessionOut(token=opened.token, csrf_token=opened.csrf_token,
                      expires_at=opened.expires_at,
                      idle_minutes=ctx.settings.api.session_idle_minutes,
                      must_change_password=user.must_change_password, role=user.role)


@router.post("/logout", response_model=Done)
def logout(staff: AnyStaff, response: Response, ctx: Context) -> Done:
    """End this session now (the token stops working everywhere)."""
    ctx.sessions.revoke(staff.session_id, ctx.clock())
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return Done()


@router.get("/me", response_model=MeOut)
def me(staff: AnyStaff, ctx: Context) -> MeOut:
    """Who the session belongs to and what it may see."""
    return MeOut(
        login=staff.login, role=staff.role.value, practice_ids=sorted(staff.practice_ids),
        practitioner_id=staff.practitioner_id, shared_box=staff.shared_box,
        must_change_password=staff.must_change_password,
        recovery_codes_left=ctx.accounts.remaining_recovery_codes(staff.user_id),
    )


@router.post("/password", response_model=Done, responses=responses(400))
def change_password(body: PasswordChangeIn, staff: AnyStaff, ctx: Context) -> Done:
    """Change one's password (required after the one-time password); a wrong current
    password or a weak or common new one is a 400. Every other session of the user ends."""
    ctx.accounts.change_password(staff.user_id, body.current_password, body.new_password,
                                 keep_session_id=staff.session_id)
    return Done()


@router.post("/recovery-codes", response_model=RecoveryCodesOut)
def renew_recovery_codes(staff: AnyStaff, ctx: Context) -> RecoveryCodesOut:
    """Replace one's recovery codes; the new ones are shown once."""
    return RecoveryCodesOut(recovery_codes=ctx.accounts.new_recovery_codes(staff.user_id))
