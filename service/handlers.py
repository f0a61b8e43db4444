"""The app's exception handlers: every error becomes an application/problem+json answer (RFC 9457),
with the field path and what it allows for invalid input; nothing leaves as a bare 500."""

from __future__ import annotations

import logging
import sys
from http import HTTPStatus

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .core.cancel import Cancelled
from .core.errors import InitError
from .problems import PROBLEM, ProblemError, problem_body
from .spec.errors import FieldError, field_error, validation_errors

__all__ = ["HANDLERS", "problem"]

log = logging.getLogger("initw")


def problem(
    status: int,
    detail: str,
    request: Request | None = None,
    *,
    kind: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem answer; ``request`` names the instance (its path)."""
    instance = request.url.path if request is not None else None
    body = problem_body(status, detail, instance, kind=kind, errors=errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e["type"] in ("json_invalid", "json_type") for e in errors):
        return problem(400, "the body is not valid JSON", request, kind="malformed-json")
    if any(e["type"] == "missing" and tuple(e["loc"]) == ("body",) for e in errors):
        return problem(400, "the body is empty: send a JSON object", request, kind="malformed-json")
    body = getattr(exc, "body", None)
    found = validation_errors(errors, body)
    detail = "; ".join(f"{e.field}: {e.message}" for e in found[:5])
    return problem(422, detail, request, kind="invalid-request", errors=found)


async def on_init_error(request: Request, exc: InitError) -> JSONResponse:
    error = field_error(exc.param or "body", str(exc), exc.allowed)
    return problem(422, f"{error.field}: {exc}", request, kind="invalid-request", errors=[error])


async def on_cancelled(request: Request, exc: Cancelled) -> JSONResponse:
    """Work stopped by its token: past INITW_REQUEST_SECONDS (a 503 the client can act on), or
    because its client left (nobody reads this answer; it closes the request)."""
    if exc.deadline:
        log.warning("%s %s: %s; stopped", request.method, request.url.path, exc.reason)
        detail = f"{exc.reason} (INITW_REQUEST_SECONDS): ask for less per request, or raise the limit"
        return problem(503, detail, request, kind="deadline-exceeded")
    return problem(503, f"the work stopped: {exc.reason}", request, kind="cancelled")


async def on_problem(request: Request, exc: ProblemError) -> JSONResponse:
    return problem(exc.status, exc.detail, request, kind=exc.kind, errors=exc.errors, headers=exc.headers)


def _unparsable(exc: StarletteHTTPException) -> str | None:
    """What FastAPI's bare 400 "There was an error parsing the body" hides: it raises it, from the
    cause, for a body json.loads refuses other than by JSONDecodeError (those are validation errors)."""
    if exc.status_code != 400 or exc.__cause__ is None:
        return None
    if isinstance(exc.__cause__, RecursionError):
        return "the body is not valid JSON: arrays or objects are nested too deeply to parse"
    if isinstance(exc.__cause__, UnicodeDecodeError):
        return "the body is not valid JSON: it is not UTF-8 (RFC 8259)"
    if "integer string conversion" in str(exc.__cause__):
        return f"the body is not valid JSON: a number has more than {sys.get_int_max_str_digits()} digits"
    return "the body is not valid JSON"


async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    unparsable = _unparsable(exc)
    if unparsable is not None:
        return problem(400, unparsable, request, kind="malformed-json")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
    headers = getattr(exc, "headers", None)
    if exc.status_code == 404:
        detail = f"no such resource: {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
        headers = {**(headers or {}), "Allow": _allow(request)}
    return problem(exc.status_code, detail, request, headers=headers)


def _allow(request: Request) -> str:
    """Every method some route takes at the path (RFC 9110 15.5.6): the router's 405 names only the
    first matching route's, and GET /init, HEAD /init and POST /init are separate routes."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    )


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "an unexpected error occurred; it has been logged", request, kind="internal")


HANDLERS = {
    RequestValidationError: on_validation_error,
    InitError: on_init_error,
    Cancelled: on_cancelled,
    ProblemError: on_problem,
    StarletteHTTPException: on_http_error,
    Exception: on_unexpected,
}
