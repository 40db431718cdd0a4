"""The console's softphone: where it connects and the short-lived SIP token it registers with.

A secretary's page asks for a token when she sets herself available and renews it before
it expires; the token lets her page register her practices' desks (``sip:desk-<slug>``)
on the front, nothing else. Logging out or letting the session expire stops the renewals,
so the registration dies with the token.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import Context, Secretary
from api.errors import COMMON_RESPONSES, ApiError
from api.headers import softphone_address
from foundation.settings import Settings
from foundation.webphone_tokens import load_or_create_secret, mint, turn_credential
from storage.models import Practice

router = APIRouter(prefix="/softphone", tags=["softphone"], responses=COMMON_RESPONSES)


class DeskToken(BaseModel):
    practice: str
    desk: str
    username: str
    password: str
    expires_at: int


class IceServer(BaseModel):
    """A TURN server for the page's RTCPeerConnection, with short-lived credentials."""

    urls: list[str]
    username: str
    credential: str


class SoftphoneOut(BaseModel):
    url: str
    """The WebSocket address of the front (ws:// or wss://)."""
    realm: str
    ttl_s: int
    desks: list[DeskToken]
    ice_servers: list[IceServer] = []
    """The TURN relay, when the front runs one ([sip.webphone.turn])."""
    ice_transport_policy: str = "all"
    """"relay": media through TURN only (sip.webphone.turn.relay_only)."""


class SoftphoneAbout(BaseModel):
    enabled: bool


@router.get("", response_model=SoftphoneAbout)
def about(staff: Secretary, ctx: Context) -> SoftphoneAbout:
    """Whether the console's softphone is on (the page shows its panel only then)."""
    return SoftphoneAbout(enabled=ctx.settings.sip.webphone.enabled)


@router.post("/token", response_model=SoftphoneOut)
def token(staff: Secretary, ctx: Context, request: Request) -> SoftphoneOut:
    """Short-lived SIP credentials for the caller's practices' desks."""
    settings = ctx.settings
    phone = settings.sip.webphone
    if not phone.enabled:
        raise ApiError(404, "not_found", "the softphone is not enabled (sip.webphone.enabled)")
    url = softphone_address(settings.webphone_url, request.headers.get("host"))
    if url is None:
        raise ApiError(400, "bad_host", "the page's address names no host")
    secret = load_or_create_secret(settings.webphone_secret_path)
    with ctx.db.session() as session:
        slugs = sorted(session.scalars(
            select(Practice.slug).where(Practice.id.in_(staff.practice_ids))))
    now = ctx.clock().timestamp()
    desks = []
    for slug in slugs:
        minted = mint(secret, login=staff.login, practice_slug=slug, now=now,
                      ttl_s=phone.token_ttl_s)
        desks.append(DeskToken(practice=slug, desk=minted.desk, username=minted.username,
                               password=minted.password, expires_at=minted.expires_at))
    ice_servers, policy = _turn(settings, staff.login, now)
    return SoftphoneOut(url=url, realm=settings.sip.phones.realm,
                        ttl_s=phone.token_ttl_s, desks=desks, ice_servers=ice_servers,
                        ice_transport_policy=policy)


def _turn(settings: Settings, login: str, now: float) -> tuple[list[IceServer], str]:
    """The TURN server and its credentials (valid as long as the SIP tokens), if any."""
    turn = settings.sip.webphone.turn
    if not turn.enabled:
        return [], "all"
    credential = turn_credential(load_or_create_secret(settings.turn_secret_path),
                                 login=login, now=now,
                                 ttl_s=settings.sip.webphone.token_ttl_s)
    server = IceServer(urls=settings.turn_urls, username=credential.username,
                       credential=credential.password)
    return [server], "relay" if turn.relay_only else "all"
