"""FastAPI dependencies: the app context, the caller's session, role and object checks.

A session comes from ``Authorization: Bearer <token>`` or from the session cookie.
Cookie-borne requests with an unsafe method must carry the session's CSRF token in
the ``X-CSRF-Token`` header (double submit: the console reads it from the
``telesec_csrf`` cookie); bearer requests need none (a browser never adds the header).

Object rules: an object of a practice the caller is not assigned to answers 404, as
if it did not exist; an endpoint the caller's role may not use answers 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Path, Request

from api.context import CSRF_HEADER, SESSION_COOKIE, ApiContext
from api.errors import ApiError, forbidden, not_found
from api.services.sessions import Principal
from scheduling import lookup
from storage.models import StaffRole

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_ID = 2_147_483_647

ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
PracticeSlug = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]


def context(request: Request) -> ApiContext:
    return request.app.state.context


Context = Annotated[ApiContext, Depends(context)]


def _credentials(request: Request) -> tuple[str | None, bool]:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthenticated", "use 'Authorization: Bearer <token>'",
                           {"WWW-Authenticate": "Bearer"})
        return token.strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


def _principal(request: Request, ctx: Context, allow_password_change: bool) -> Principal:
    token, from_cookie = _credentials(request)
    if not token or len(token) > 200:
        raise ApiError(401, "unauthenticated", "log in first", {"WWW-Authenticate": "Bearer"})
    principal = ctx.sessions.resolve(token, ctx.clock())
    if principal is None:
        raise ApiError(401, "unauthenticated", "your session has ended; log in again",
                       {"WWW-Authenticate": "Bearer"})
    if from_cookie and request.method in UNSAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not principal.csrf_matches(sent):
            raise ApiError(403, "csrf", "missing or wrong X-CSRF-Token header")
    if principal.must_change_password and not allow_password_change:
        raise ApiError(403, "password_change_required",
                       "change your one-time password first (POST /auth/password)")
    request.state.principal = principal
    return principal


def current_staff(request: Request, ctx: Context) -> Principal:
    return _principal(request, ctx, allow_password_change=False)


def current_staff_any(request: Request, ctx: Context) -> Principal:
    """The caller, even one who still has to change the one-time password."""
    return _principal(request, ctx, allow_password_change=True)


Staff = Annotated[Principal, Depends(current_staff)]
AnyStaff = Annotated[Principal, Depends(current_staff_any)]


def require(*roles: StaffRole) -> Callable[[Principal], Principal]:
    allowed = frozenset(roles)

    def check(staff: Staff) -> Principal:
        if staff.role not in allowed:
            raise forbidden(f"this needs the role {' or '.join(sorted(r.value for r in roles))}")
        return staff

    return check


Admin = Annotated[Principal, Depends(require(StaffRole.ADMIN))]
Secretary = Annotated[Principal, Depends(require(StaffRole.SECRETARY))]
AdminOrSecretary = Annotated[Principal, Depends(require(StaffRole.ADMIN, StaffRole.SECRETARY))]
SecretaryOrDoctor = Annotated[
    Principal, Depends(require(StaffRole.SECRETARY, StaffRole.DOCTOR))
]


def sees_practice(staff: Principal, practice_id: int) -> bool:
    return staff.role is StaffRole.ADMIN or practice_id in staff.practice_ids


def check_practice(staff: Principal, practice_id: int | None, what: str = "practice") -> None:
    """404 unless the caller may see objects of ``practice_id``."""
    if practice_id is None or not sees_practice(staff, practice_id):
        raise not_found(what)


def practice_id_of(ctx: ApiContext, staff: Principal, slug: str) -> int:
    """The id of a practice the caller may see (else 404)."""
    with ctx.db.read_session() as session:
        try:
            place = lookup.practice(session, slug)
        except Exception:
            raise not_found("practice") from None
        place_id = place.id
    check_practice(staff, place_id)
    return place_id
