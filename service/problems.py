"""RFC 9457 problem details for every error: status, a title, what went wrong, and for invalid
input the field path and what it allows. Nothing leaves the service as a bare 500 or text/plain."""

from __future__ import annotations

import logging
import sys
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .core.errors import InitError

PROBLEM = "application/problem+json"
log = logging.getLogger("initw")


class FieldError(BaseModel):
    """One invalid field."""

    field: str = Field(description="dotted path in the request, e.g. tensors.0.scheme.std")
    pointer: str = Field(description="the same path as a JSON pointer, e.g. /tensors/0/scheme/std")
    message: str
    allowed: str | None = Field(None, description="what the field accepts")


class Problem(BaseModel):
    """An RFC 9457 problem."""

    type: str = Field("about:blank", description="a URI naming the kind of problem")
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise to answer with a problem."""

    def __init__(self, status: int, detail: str, *, kind: str | None = None, errors=None, headers=None):
        super().__init__(detail)
        self.status, self.detail, self.kind = status, detail, kind
        self.errors, self.headers = errors, headers or {}


def problem(
    status: int, detail: str, request: Request | None = None, *, kind=None, errors=None, headers=None
) -> JSONResponse:
    body = Problem(
        type=f"https://initw.dev/problems/{kind}" if kind else "about:blank",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path if request is not None else None,
        errors=errors,
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM, headers=headers)


def field_error(path: str, message: str, allowed: str | None = None) -> FieldError:
    pointer = "/" + path.replace(".", "/") if path and path != "body" else ""
    return FieldError(field=path or "body", pointer=pointer, message=message, allowed=allowed)


def _path(loc: tuple[Any, ...], body: Any) -> str:
    """Dotted path of a pydantic error location, without 'body'/'query' and union tags.

    A union puts the tag of the member that failed (a scheme or layer name, "int" or "list[int]"
    for ``3`` vs ``[3, 3]``) into the location; it is not a field of the request, so walking the
    body tells it apart: only objects have named fields.
    """
    parts: list[str] = []
    node = body
    for item in loc:
        if item in ("body", "query") and not parts:
            continue
        if isinstance(item, str) and node is not None and not isinstance(node, dict):
            continue  # a union member's tag under a list or a scalar ("int", "list[int]"): no field
        if isinstance(node, dict) and isinstance(item, str) and item not in node:
            if item in (node.get("name"), node.get("type"), node.get("preset")) or "[" in item:
                continue
        parts.append(str(item))
        if isinstance(node, dict):
            node = node.get(item)
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            node = node[item]
        else:
            node = None
    return ".".join(parts)


def _allowed(error: dict[str, Any]) -> str | None:
    ctx = error.get("ctx") or {}
    if "expected_tags" in ctx:
        return f"one of {ctx['expected_tags']}"
    if "expected" in ctx:
        return f"one of {ctx['expected']}"
    for key, text in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if key in ctx:
            return f"{text} {ctx[key]}"
    if "pattern" in ctx:
        return f"matching {ctx['pattern']}"
    if "max_length" in ctx:
        return f"at most {ctx['max_length']} items"
    return None


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "union_tag_invalid":
        return f"unknown name {error['ctx'].get('tag')!r}"
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return error["msg"].removeprefix("Value error, ")


def validation_errors(errors: Any, body: Any) -> list[FieldError]:
    return [field_error(_path(tuple(e["loc"]), body), _message(e), _allowed(e)) for e in errors]


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
    ProblemError: on_problem,
    StarletteHTTPException: on_http_error,
    Exception: on_unexpected,
}
