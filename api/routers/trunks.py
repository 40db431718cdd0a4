"""The front's SIP accounts and IP trunks (admin), as the running front last saw them."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Admin, Context
from api.errors import COMMON_RESPONSES
from api.schemas.admin import TrunkOut
from foundation.front_status import STATE_MEANING, read_trunk_status

router = APIRouter(prefix="/trunks", tags=["trunks"], responses=COMMON_RESPONSES)


@router.get("", response_model=list[TrunkOut])
def list_trunks(admin: Admin, ctx: Context) -> list[TrunkOut]:
    """One entry per ``[[sip.trunks]]`` section: ``unknown`` when the front is not running
    on this machine (its status file is missing or older than a minute)."""
    states = read_trunk_status(ctx.settings)
    found = []
    for trunk in ctx.settings.sip.trunks:
        state = states.get(trunk.name, "unknown")
        found.append(TrunkOut(
            name=trunk.name, kind=trunk.kind,
            where=trunk.aor if trunk.kind == "register" else trunk.registrar,
            numbers=list(trunk.numbers), state=state, meaning=STATE_MEANING.get(state, state)))
    return found
