"""POST /init, GET|HEAD /init and POST /diagnostics: generate, describe, and diagnose tensors."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError

from ..core.artifact import Artifact, build
from ..core.artifact import Request as CoreRequest
from ..core.diagnose import diagnose
from ..core.errors import InitError
from ..core.generate import algorithm
from ..core.registry import get_scheme
from ..problems import ProblemError, field_error, validation_errors
from ..representation import BINARY, IMMUTABLE, JSON, etag, matches, negotiate, repr_digest, require_json
from ..settings import Settings
from ..spec.request import InitRequest, to_request
from . import get

router = APIRouter(tags=["weights"])


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(settings_of)]


class SafetensorsResponse(StreamingResponse):
    media_type = BINARY


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Error responses for the OpenAPI document (service.openapi sets their problem+json schema)."""
    return {code: {"description": HTTPStatus(code).phrase} for code in codes}


ARTIFACT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A safetensors file (default), or with Accept: application/json its description, "
        "diagnostics and base64 bytes.",
        "content": {
            BINARY: {"schema": {"type": "string", "format": "binary"}},
            JSON: {"schema": {"type": "object"}},
        },
        "headers": {
            "ETag": {"description": "strong validator of the canonical request", "schema": {"type": "string"}},
            "Repr-Digest": {"description": "RFC 9530 SHA-256 of the body", "schema": {"type": "string"}},
            "Cache-Control": {"description": IMMUTABLE, "schema": {"type": "string"}},
        },
    },
    **_problems(400, 406, 413, 415, 422),
}


def _checked(body: InitRequest, settings: Settings, limit: int, what: str) -> CoreRequest:
    request = to_request(body)
    if request.numel > limit:
        raise ProblemError(
            413,
            f"the request asks for {request.numel:,} elements; {what} serves at most {limit:,} per request",
            kind="too-many-elements",
        )
    return request


def _headers(tag: str, media: str) -> dict[str, str]:
    return {"ETag": tag, "Cache-Control": IMMUTABLE, "Vary": "Accept"}


def _respond(request: CoreRequest, media: str, method: str, settings: Settings) -> Response:
    tag = etag(request, media)
    artifact = build(request)
    headers = _headers(tag, media)
    if media == BINARY:
        headers["Repr-Digest"] = repr_digest(artifact.sha256)
        headers["Content-Length"] = str(artifact.size)
        headers["Content-Disposition"] = f'attachment; filename="initw-{tag[1:13]}.safetensors"'
        if method == "HEAD":
            return Response(status_code=200, headers=headers, media_type=BINARY)
        return SafetensorsResponse(artifact.chunks(), headers=headers)
    if artifact.size > settings.json_max_bytes:
        raise ProblemError(
            413,
            f"the safetensors file is {artifact.size:,} bytes, more than the {settings.json_max_bytes:,} sent as "
            f"base64 JSON (INITW_JSON_MAX_BYTES); ask for {BINARY} (the default) to download it",
            kind="json-too-large",
        )
    content = json.dumps(describe_artifact(artifact, tag), sort_keys=True, separators=(",", ":")).encode()
    headers["Repr-Digest"] = repr_digest(hashlib.sha256(content).digest())
    if method == "HEAD":
        headers["Content-Length"] = str(len(content))
        return Response(status_code=200, headers=headers, media_type=JSON)
    return Response(content, headers=headers, media_type=JSON)


def describe_artifact(artifact: Artifact, tag: str) -> dict[str, Any]:
    """The JSON representation: what the file holds, its digest, diagnostics and the bytes."""
    tensors = []
    for spec in artifact.request.tensors:
        begin, end = artifact.layout.file_range(spec.name)
        tensors.append(
            {
                "name": spec.name,
                "shape": list(spec.shape),
                "dtype": spec.dtype,
                "safetensors_dtype": spec.out_dtype.safetensors,
                "nbytes": spec.nbytes,
                "file_offsets": [begin, end],
            }  # fmt: skip
        )
    return {
        "algorithm": algorithm(),
        "seed": artifact.request.seed,
        "request": artifact.request.canonical(),
        "artifact": {"media_type": BINARY, "size": artifact.size, "sha256": artifact.sha256.hex(),
                     "etag": etag(artifact.request, BINARY)},
        "tensors": tensors,
        "diagnostics": _finite(artifact.diagnostics),
        "safetensors_base64": base64.b64encode(artifact.to_bytes()).decode("ascii"),
    }  # fmt: skip


def _finite(value: Any) -> Any:
    """JSON has no inf or NaN: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


@router.post(
    "/init",
    summary="Initialize tensors: a safetensors file (default) or its JSON description",
    response_class=SafetensorsResponse,
    responses={**ARTIFACT_RESPONSES, **_problems(412)},
)
def post_init(
    body: InitRequest,
    settings: SettingsDep,
    accept: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Generate every tensor of the body from its seed. The same body gives the same bytes,
    header included, in any process on any machine; its ETag is derived from the canonical request."""
    media = negotiate(accept)
    request = _checked(body, settings, settings.max_elements, "POST /init")
    if matches(if_none_match, etag(request, media)):
        raise ProblemError(
            412,
            "If-None-Match matched: a POST cannot answer 304; use GET /init for caching",
            kind="precondition-failed",
        )
    return _respond(request, media, "POST", settings)


QUERY_FIELDS = ("shape", "scheme", "seed", "dtype", "layout", "name", "fan_in", "fan_out")


def _number(text: str, kind: str) -> Any:
    if kind == "int":
        return int(text, 10)
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _from_query(query: dict[str, str]) -> dict[str, Any]:
    """The one-tensor body equivalent to GET /init's query string."""
    errors = []
    body: dict[str, Any] = {}
    for key in ("dtype", "layout", "name"):
        if key in query:
            body[key] = query[key]
    for key in ("seed", "fan_in", "fan_out"):
        if key in query:
            try:
                body[key] = _number(query[key], "int")
            except ValueError:
                errors.append(field_error(key, f"must be an integer, got {query[key]!r}"))
    try:
        body["shape"] = [_number(d, "int") for d in query.get("shape", "").split(",") if d.strip() != ""]
    except ValueError:
        errors.append(field_error("shape", f"must be comma-separated integers, got {query.get('shape')!r}"))
    name = query.get("scheme", "")
    params: dict[str, Any] = {}
    try:
        kinds = {p.name: p.kind for p in get_scheme(name).params}
    except InitError:
        kinds = {}
    for key, text in query.items():
        if key in QUERY_FIELDS:
            continue
        kind = kinds.get(key, "str")
        try:
            params[key] = (
                {"true": True, "false": False}[text]
                if kind == "bool"
                else text
                if kind == "str"
                else _number(text, kind)
            )
        except (KeyError, ValueError):
            errors.append(field_error(f"scheme.{key}", f"must be a {kind}, got {text!r}"))
    if errors:
        raise ProblemError(
            422, "; ".join(f"{e.field}: {e.message}" for e in errors), kind="invalid-request", errors=errors
        )
    body["scheme"] = {"name": name, **params}
    return body


@get(
    router,
    "/init",
    summary="One tensor from query parameters: the cache-friendly form (ETag, 304, HEAD)",
    response_class=SafetensorsResponse,
    responses={**ARTIFACT_RESPONSES, 304: {"description": "Not Modified: the ETag matched"}},
)
def get_init(
    request: Request,
    settings: SettingsDep,
    shape: Annotated[str, Query(description="comma-separated dimensions, e.g. 256,784")],
    scheme: Annotated[
        str,
        Query(description="a scheme name or alias; its parameters are further query parameters, e.g. &mode=fan_out"),
    ],
    seed: Annotated[str | None, Query(description="0 .. 2^64-1 (default 0)")] = None,
    dtype: Annotated[str | None, Query(description="float32 (default), float64, float16, bfloat16")] = None,
    layout: Annotated[str | None, Query(description="torch (default), keras, jax")] = None,
    name: Annotated[str | None, Query(description="tensor name (default weight)")] = None,
    fan_in: Annotated[str | None, Query(description="fan_in override")] = None,
    fan_out: Annotated[str | None, Query(description="fan_out override")] = None,
    accept: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The same artifact as POST /init with the one-tensor shorthand, addressable by URL, so any
    HTTP cache can serve repeats. Scheme parameters are query parameters (`&gain=2&mode=fan_out`)."""
    media = negotiate(accept)
    raw = _from_query(dict(request.query_params))
    try:
        body = InitRequest.model_validate(raw)
    except ValidationError as error:
        found = validation_errors(error.errors(), raw)
        raise ProblemError(
            422, "; ".join(f"{e.field}: {e.message}" for e in found[:5]), kind="invalid-request", errors=found
        ) from None
    core = _checked(body, settings, settings.max_elements, "GET /init")
    tag = etag(core, media)
    if matches(if_none_match, tag):
        return Response(status_code=304, headers=_headers(tag, media))
    return _respond(core, media, request.method, settings)


@router.post(
    "/diagnostics",
    summary="Diagnostics only, for any size: streamed, bounded memory",
    responses=_problems(400, 406, 413, 415, 422),
)
def post_diagnostics(
    body: InitRequest, settings: SettingsDep, accept: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    """The same body as POST /init; returns each tensor's diagnostics without the bytes. Tensors
    are generated chunk by chunk, so memory stays bounded however large they are."""
    require_json(accept)
    request = _checked(body, settings, settings.max_diagnostics_elements, "POST /diagnostics")
    return _finite(
        {
            "algorithm": algorithm(),
            "seed": request.seed,
            "request": request.canonical(),
            "diagnostics": {spec.name: diagnose(spec, request.seed) for spec in request.tensors},
        }
    )
