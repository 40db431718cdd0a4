"""The application factory of the staff API.

``create_app(settings)`` opens the database, keyring and vault from the settings;
tests and embedders pass them instead (``create_app(settings, db=..., keyring=...,
vault=...)``). Run it with ``uvicorn --factory api.app:create_app``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI

from api.context import ApiContext
from api.errors import install_error_handlers
from api.headers import SecurityHeaders
from api.ratelimit import AuthLimits
from api.routers import (
    agenda,
    audit,
    auth,
    calls,
    escalations,
    gdpr,
    health,
    patients,
    practices,
    recordings,
    retention,
    users,
    voicemail,
)
from storage import identity
from storage.db import Database
from storage.keyring import Keyring
from storage.models import utcnow
from storage.retention import RetentionPolicy
from storage.vault import Vault
from telesec.settings import Settings, load_settings

DESCRIPTION = """\
The staff side of Telesec: secretaries pick up escalated calls and manage agendas,
doctors hear their voicemail, admins configure practices and review the audit trail.

**Authentication**: `POST /auth/login` with password and TOTP code gives a session token,
used as `Authorization: Bearer <token>`, or as the `telesec_session` cookie: cookie
requests that change something must send the `X-CSRF-Token` header. Sessions end after
15 minutes without use (configurable) and after `session_max_hours` in any case.

**Errors** are JSON `{"code", "message"}`; an object you may not see is a 404.
Every read of health data is written to the audit trail.
"""

ROUTERS = (health, auth, users, practices, agenda, patients, calls, escalations, voicemail,
           recordings, audit, retention, gdpr)


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    keyring: Keyring | None = None,
    vault: Vault | None = None,
    limits: AuthLimits | None = None,
    clock: Callable[[], datetime] = utcnow,
    feed_interval: float = 1.0,
) -> FastAPI:
    """Build the API. Anything not given is opened from ``settings`` (or the defaults)."""
    settings = settings or load_settings()
    if db is None or keyring is None or vault is None:
        from telesec import wiring

        keyring = keyring or wiring.open_keyring(settings)
        db = db or wiring.open_database(settings)
        vault = vault or Vault(db, keyring, settings.vault_path,
                               policy=RetentionPolicy.from_settings(settings.retention))
    identity.install(keyring)
    context = ApiContext(settings=settings, db=db, keyring=keyring, vault=vault,
                         limits=limits or AuthLimits(), clock=clock)
    context.feed.interval = feed_interval

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        context.feed.close()

    app = FastAPI(title="Telesec staff API", version="1", description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.context = context
    install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)
    app.add_middleware(SecurityHeaders, docs_paths=("/docs", "/redoc"))
    return app
