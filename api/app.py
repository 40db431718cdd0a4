"""The application factory of the staff API.

``create_app(settings, db=..., keyring=..., vault=...)`` builds the API over parts the
caller opened; ``telesec.wiring.api_app(settings)`` opens them from the settings (that is
what ``telesec serve`` runs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.body_limit import BodyLimit
from api.context import ApiContext
from api.errors import install_error_handlers
from api.headers import SecurityHeaders
from api.proxies import TrustedProxies
from api.ratelimit import AuthLimits
from api.routers import (
    agenda,
    audit,
    auth,
    calendars,
    calls,
    escalations,
    gdpr,
    health,
    patients,
    practices,
    recordings,
    retention,
    softphone,
    trunks,
    users,
    voicemail,
)
from foundation.settings import Settings
from storage import identity
from storage.db import Database
from storage.keyring import Keyring
from storage.models import utcnow
from storage.vault import Vault

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

# DOCS_PAGES: no /docs or /redoc. FastAPI's pages load their scripts from a CDN, which
# the console's origin (where the session and CSRF cookies live) must not run; the schema
# itself is at /openapi.json, for any OpenAPI viewer run elsewhere.
CONSOLE_FILES = Path(__file__).with_name("console")  # the staff web console (static files)

ROUTERS = (health, auth, users, practices, agenda, calendars, patients, calls, escalations,
           voicemail, recordings, audit, retention, gdpr, trunks, softphone)


def create_app(
    settings: Settings,
    *,
    db: Database,
    keyring: Keyring,
    vault: Vault,
    limits: AuthLimits | None = None,
    clock: Callable[[], datetime] = utcnow,
    feed_interval: float = 1.0,
) -> FastAPI:
    """Build the API over an open database, keyring and vault (see ``telesec.wiring``)."""
    identity.install(keyring)
    context = ApiContext(settings=settings, db=db, keyring=keyring, vault=vault,
                         limits=limits or AuthLimits(), clock=clock)
    context.feed.interval = feed_interval

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        context.feed.close()

    app = FastAPI(title="Telesec staff API", version="1", description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)  # see DOCS_PAGES
    app.state.context = context
    install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)
    app.router.add_route("/", lambda _request: RedirectResponse("/console/"),
                         include_in_schema=False)
    app.mount("/console", StaticFiles(directory=CONSOLE_FILES, html=True), name="console")
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)
    webphone = settings.webphone_url if settings.sip.webphone.enabled else None
    app.add_middleware(SecurityHeaders, softphone=webphone)
    app.add_middleware(TrustedProxies, networks=settings.api.trusted_proxies)  # outermost
    return app
