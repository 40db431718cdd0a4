"""Errors as JSON: every refusal is ``{"code": ..., "message": ...}`` with a 4xx status.

Hostile or broken input never reaches a stack trace: validation errors, unknown
objects, database value errors and anything unexpected each get a handler. Unexpected
errors are logged by type only (no request data: it may carry health data).

The typed errors of the layers below (scheduling, patients, staff accounts) are answered
here and only here, by type (:data:`DOMAIN_ERRORS`): routers let them through and never
match a message. Refusals (``Refused`` values) are not errors: routers make them 409s.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from scheduling.errors import (
    IdempotencyKeyReused,
    InvalidProfileValue,
    InvalidSlot,
    OverlappingException,
    PracticeConfigError,
    SchedulingError,
    UnknownPractice,
    UnknownPractitioner,
    UnknownVisitType,
)
from staff.errors import AccountError, PasswordRefused, UnknownAccount
from staff.phones import UnknownStaff
from storage.patients import UnknownPatient

log = logging.getLogger(__name__)


class ErrorOut(BaseModel):
    """A refusal: a stable machine code and one line for people."""

    code: str
    message: str
    fields: list[str] | None = None


class ApiError(Exception):
    """Raise from routers and dependencies to answer with an :class:`ErrorOut`."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what}")


def forbidden(message: str = "your role cannot do this") -> ApiError:
    return ApiError(403, "forbidden", message)


def _json(status: int, code: str, message: str, headers: dict[str, str] | None = None,
          fields: list[str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return JSONResponse(body, status_code=status, headers=headers)


_STATUS_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden",
                 404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
                 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
                 416: "range_not_satisfiable", 429: "rate_limited"}


# Typed errors of the layers below -> (status, code). A subclass not listed answers as
# its nearest listed base class.
DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    UnknownPractice: (404, "not_found"),
    UnknownPractitioner: (404, "not_found"),
    UnknownVisitType: (404, "not_found"),
    UnknownPatient: (404, "not_found"),
    IdempotencyKeyReused: (409, "idempotency_key_reused"),
    InvalidProfileValue: (422, "invalid_request"),
    PracticeConfigError: (409, "conflict"),
    OverlappingException: (409, "conflict"),
    InvalidSlot: (422, "invalid_request"),
    SchedulingError: (422, "invalid_request"),
    UnknownAccount: (404, "not_found"),
    UnknownStaff: (404, "not_found"),
    PasswordRefused: (400, "bad_request"),
    AccountError: (409, "conflict"),
}


def domain_answer(exc: Exception) -> tuple[int, str]:
    """The status and code that answer ``exc``, a typed error of a layer below."""
    for kind in type(exc).__mro__:
        if kind in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[kind]
    raise LookupError(f"{type(exc).__name__} is not a domain error")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _json(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return _json(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields, problems = [], []
        for error in exc.errors()[:10]:
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
            fields.append(where)
            problems.append(f"{where}: {str(error.get('msg', 'invalid'))[:120]}")
        return _json(422, "invalid_request", "; ".join(problems) or "invalid request",
                     fields=fields)

    async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
        status, code = domain_answer(exc)
        message = str(exc)
        if status == 404:  # not the hint that follows (e.g. the other slugs of a practice)
            message = message.split(";")[0]
        return _json(status, code, message)

    for kind in DOMAIN_ERRORS:
        app.add_exception_handler(kind, _domain_error)

    @app.exception_handler(IntegrityError)
    async def _conflict(_request: Request, exc: Exception) -> JSONResponse:
        return _json(409, "conflict", "this conflicts with existing data")

    @app.exception_handler(DataError)
    @app.exception_handler(StatementError)
    async def _bad_value(_request: Request, exc: Exception) -> JSONResponse:
        log.warning("database refused a value: %s", type(exc).__name__)
        return _json(422, "invalid_request", "a value is out of range or malformed")

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error %s in the API", type(exc).__name__)
        return _json(500, "internal_error", "something went wrong on our side")


COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (401, "No valid session"),
        (403, "Your role cannot do this (or CSRF token missing)"),
        (404, "No such object, or not one you can see"),
        (422, "Invalid request"),
    )
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Extra documented refusals for one route (409, 416, 429, ...)."""
    texts = {400: "Bad request", 409: "Refused: conflicts with the current state",
             416: "Range not satisfiable", 429: "Too many attempts: wait (Retry-After)"}
    return {s: {"model": ErrorOut, "description": texts.get(s, "Refused")} for s in statuses}
