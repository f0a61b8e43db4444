"""POST /init, GET|HEAD /init and POST /diagnostics: generate, describe, and diagnose tensors."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import QueryParams

from .. import ranges
from ..admission import Reservation
from ..core.artifact import Artifact, build, diagnostics_report, plan, sample_runs, tensor_bytes, working_bytes
from ..core.artifact import Request as CoreRequest
from ..core.generate import TensorSpec, algorithm, generate
from ..core.read import dtype_name
from ..plots import histogram_svg
from ..problems import ProblemError, field_error, validation_errors
from ..representation import (
    BINARY,
    IMMUTABLE,
    JSON,
    SVG,
    Remembered,
    etag,
    matches,
    negotiate,
    repr_digest,
)
from ..settings import Settings
from ..spec import text
from ..spec.request import InitRequest, to_request
from . import RememberedDep, ReservationDep, SettingsDep, finite, get, problem_responses

router = APIRouter(tags=["weights"])


INDEX = r"^[0-9]{1,20}$"  # what _index accepts, stated in the contract
SHARD = {
    "tensor": "shard: the tensor to send raw (needed when the request has several)",
    "start": "shard: first element (C order) of the raw little-endian slice",
    "stop": "shard: one past the last element",
}


def _index(text: str | None, field: str) -> int | None:
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 20:  # int() takes "²" (500) and "٣" too
        raise ProblemError(422, f"{field} must be a non-negative integer, got {text[:40]!r}", kind="invalid-request",
                           errors=[field_error(field, "must be a non-negative integer", ">= 0")])  # fmt: skip
    return int(text)


JSON_COPIES = 6.0  # tensors, file, base64 (4/3), JSON text and its bytes (2 x 4/3)


class SafetensorsResponse(StreamingResponse):
    media_type = BINARY


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
    **problem_responses(400, 406, 413, 415, 422, 503),
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


def _binary_response(
    request: CoreRequest, tag: str, method: str, settings: Settings, memory: Remembered, reservation: Reservation
) -> Response:
    """The file: from the cache, from memory (one pass, up to INITW_MEMORY_BYTES and if it fits the
    memory budget), or streamed in bounded memory with its digest from the cache or a first pass
    (HEAD skips that pass)."""
    headers = {
        **_headers(tag, BINARY),
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'attachment; filename="initw-{tag[1:13]}.safetensors"',
    }
    if request.transfer is not None:
        counts = {key: len(value) for key, value in request.transfer.items()}
        headers["Initw-Transfer"] = ", ".join(f"{key}={count}" for key, count in counts.items())
    body = memory.body(tag)
    if body is None:
        held = (
            request.nbytes <= settings.memory_bytes
            and working_bytes(request, held=True) <= settings.memory_budget_bytes
        )
        reservation.reserve(working_bytes(request, held), "this file")
        artifact = build(request) if held else plan(request)
        digest = memory.digest(tag)
        if digest is None and (held or method != "HEAD"):
            digest = artifact.sha256  # held: hashes the tensors in place; streamed: a first pass
        if digest is not None:
            headers["Repr-Digest"] = repr_digest(digest)
        if not held or artifact.size > memory.file_bytes:
            if digest is not None:
                memory.remember(tag, digest)
            headers["Content-Length"] = str(artifact.size)
            if method == "HEAD":
                return Response(status_code=200, headers=headers, media_type=BINARY)
            return SafetensorsResponse(artifact.read(), headers=headers)
        body = artifact.to_bytes()
        memory.remember(tag, artifact.sha256, body)
    headers["Repr-Digest"] = repr_digest(memory.digest(tag) or hashlib.sha256(body).digest())
    headers["Content-Length"] = str(len(body))
    return Response(b"" if method == "HEAD" else body, headers=headers, media_type=BINARY)


def _json_response(
    request: CoreRequest, tag: str, method: str, settings: Settings, memory: Remembered, reservation: Reservation
) -> Response:
    """The JSON representation (full diagnostics and the file in base64), within its size cap."""
    content = memory.body(tag)
    if content is None:
        if request.nbytes > settings.json_max_bytes:
            raise ProblemError(
                413,
                f"the tensors hold {request.nbytes:,} bytes, more than the {settings.json_max_bytes:,} sent as "
                f"base64 JSON (INITW_JSON_MAX_BYTES); ask for {BINARY} (the default) to download the file",
                kind="json-too-large",
            )
        # The tensors, the file, its base64 and the JSON text around it.
        reservation.reserve(working_bytes(request, held=True, copies=JSON_COPIES), "this JSON representation")
        artifact = build(request, diagnose=True)
        if artifact.size > settings.json_max_bytes:
            raise ProblemError(
                413,
                f"the safetensors file is {artifact.size:,} bytes, more than the {settings.json_max_bytes:,} sent "
                f"as base64 JSON (INITW_JSON_MAX_BYTES); ask for {BINARY} (the default) to download it",
                kind="json-too-large",
            )
        content = json.dumps(describe_artifact(artifact, tag), sort_keys=True, separators=(",", ":")).encode()
        memory.remember(tag, hashlib.sha256(content).digest(), content)
    headers = {**_headers(tag, JSON), "Repr-Digest": repr_digest(hashlib.sha256(content).digest())}
    if method == "HEAD":
        headers["Content-Length"] = str(len(content))
        return Response(status_code=200, headers=headers, media_type=JSON)
    return Response(content, headers=headers, media_type=JSON)


def _respond(
    request: CoreRequest, media: str, method: str, settings: Settings, memory: Remembered, reservation: Reservation
) -> Response:
    tag = etag(request, media)
    if media == BINARY:
        return _binary_response(request, tag, method, settings, memory, reservation)
    return _json_response(request, tag, method, settings, memory, reservation)


def _partial(request: CoreRequest, header: str, if_range: str | None, reservation: Reservation) -> Response | None:
    """A 206 (or 416) for a Range request on the file; None to send the whole file instead."""
    tag = etag(request, BINARY)
    if if_range is not None and if_range.strip() != tag:
        return None  # the client's copy is another representation: send it whole
    artifact = plan(request)  # the header needs only the summaries' samples
    size = artifact.size
    try:
        wanted = ranges.parse(header, size)
    except ranges.Unsatisfiable:
        raise ProblemError(416, f"no range of {header!r} overlaps the {size:,}-byte file", kind="range-not-satisfiable",
                           headers={"Content-Range": f"bytes */{size}"}) from None  # fmt: skip
    except ranges.TooManyRanges:
        raise ProblemError(416, f"at most {ranges.MAX_RANGES} ranges per request", kind="too-many-ranges",
                           headers={"Content-Range": f"bytes */{size}"}) from None  # fmt: skip
    if wanted is None:
        return None
    reservation.reserve(working_bytes(request, held=False), "these ranges")
    headers = {**_headers(tag, BINARY), "Accept-Ranges": "bytes"}
    if len(wanted) == 1:
        first, stop = wanted[0]
        headers["Content-Range"] = ranges.content_range(first, stop, size)
        headers["Content-Length"] = str(stop - first)
        return SafetensorsResponse(artifact.read(first, stop), status_code=206, headers=headers)
    boundary = "initw-" + tag.strip('"')[:24]
    parts = ((first, stop, artifact.read(first, stop)) for first, stop in wanted)
    headers["Content-Length"] = str(ranges.multipart_length(wanted, size, boundary, BINARY))
    return StreamingResponse(
        ranges.multipart(parts, size, boundary, BINARY),
        status_code=206,
        headers=headers,
        media_type=f"multipart/byteranges; boundary={boundary}",
    )


def _one_tensor(request: CoreRequest, name: str | None) -> TensorSpec:
    """The tensor ``name`` of the request (or its only tensor), else a 422 listing the names."""
    names = [t.name for t in request.tensors]
    if name is None and len(names) == 1:
        name = names[0]
    if name not in names:
        detail = "name the tensor: ?tensor=NAME" if name is None else f"no tensor named {name!r}"
        error = field_error("tensor", "required, one of the request's tensors", ", ".join(names))
        raise ProblemError(422, detail, kind="invalid-request", errors=[error])
    return request.tensor(name)


def _shard(
    request: CoreRequest, tensor: str | None, start: int | None, stop: int | None, method: str, reservation: Reservation
) -> Response:
    """Raw little-endian elements [start, stop) of one tensor: parts of a huge tensor, made by any
    number of clients or servers, that concatenate to the whole."""
    spec = _one_tensor(request, tensor)
    tensor = spec.name
    first = 0 if start is None else start
    last = spec.numel if stop is None else stop
    if not 0 <= first <= last <= spec.numel:
        field = "stop" if last > spec.numel else "start"
        error = field_error(field, "0 <= start <= stop <= elements", f"0 .. {spec.numel}")
        detail = f"elements [{first}, {last}) are outside {tensor!r}, which has {spec.numel:,}"
        raise ProblemError(422, detail, kind="invalid-request", errors=[error])
    itemsize = spec.out_dtype.itemsize
    tag = '"' + hashlib.sha256(f"{etag(request, BINARY)}|shard|{tensor}|{first}|{last}".encode()).hexdigest()[:40] + '"'
    headers = {
        **_headers(tag, BINARY),
        "Content-Length": str((last - first) * itemsize),
        "Initw-Tensor": tensor,
        "Initw-Dtype": spec.out_dtype.safetensors,
        "Initw-Shape": ",".join(map(str, spec.shape)),
        "Initw-Elements": f"{first}-{last}/{spec.numel}",
    }
    if method == "HEAD":
        return Response(status_code=200, headers=headers, media_type=BINARY)
    reservation.reserve(working_bytes(request, held=False), "this shard")
    return SafetensorsResponse(tensor_bytes(spec, request.seed, first * itemsize, last * itemsize), headers=headers)


def describe_artifact(artifact: Artifact, tag: str) -> dict[str, Any]:
    """The JSON representation: what the file holds, its digest, diagnostics and the bytes."""
    tensors = []
    for spec in artifact.request.tensors:
        begin, end = artifact.layout.file_range(spec.name)
        entry = artifact.request.entry(spec)
        tensors.append(
            {
                "name": spec.name,
                "shape": list(spec.shape),
                "dtype": dtype_name(entry.dtype),
                "safetensors_dtype": entry.dtype,
                "nbytes": entry.nbytes,
                "file_offsets": [begin, end],
                "kept": spec.name in artifact.request.kept,
            }
        )
    transfer = {} if artifact.request.transfer is None else {"transfer": artifact.request.transfer}
    return {
        **transfer,
        "algorithm": algorithm(),
        "seed": artifact.request.seed,
        "request": artifact.request.canonical(),
        "artifact": {"media_type": BINARY, "size": artifact.size, "sha256": artifact.sha256.hex(),
                     "etag": etag(artifact.request, BINARY)},
        "tensors": tensors,
        "diagnostics": finite(artifact.diagnostics),
        "safetensors_base64": base64.b64encode(artifact.to_bytes()).decode("ascii"),
    }  # fmt: skip


@router.post(
    "/init",
    summary="Initialize tensors: a safetensors file (default) or its JSON description",
    response_class=SafetensorsResponse,
    responses={**ARTIFACT_RESPONSES, **problem_responses(408, 412)},
)
def post_init(
    body: InitRequest,
    settings: SettingsDep,
    memory: RememberedDep,
    reservation: ReservationDep,
    accept: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
    tensor: Annotated[str | None, Query(description=SHARD["tensor"])] = None,
    start: Annotated[str | None, Query(description=SHARD["start"], pattern=INDEX)] = None,
    stop: Annotated[str | None, Query(description=SHARD["stop"], pattern=INDEX)] = None,
) -> Response:
    """Generate every tensor of the body from its seed. The same body gives the same bytes,
    header included, in any process on any machine; its ETag is derived from the canonical request.
    With ``?tensor=&start=&stop=`` the answer is a shard: raw little-endian elements of one tensor."""
    media = negotiate(accept)
    request = _checked(body, settings, settings.max_elements, "POST /init")
    if (tensor, start, stop) != (None, None, None):
        return _shard(request, tensor, _index(start, "start"), _index(stop, "stop"), "POST", reservation)
    if matches(if_none_match, etag(request, media)):
        raise ProblemError(
            412,
            "If-None-Match matched: a POST cannot answer 304; use GET /init for caching",
            kind="precondition-failed",
        )
    return _respond(request, media, "POST", settings, memory, reservation)


QUERY_FIELDS = ("shape", "scheme", "seed", "dtype", "layout", "name", "fan_in", "fan_out", *SHARD)


def _single(query: QueryParams) -> dict[str, str]:
    """The query string as a dict; a parameter given twice is refused, not resolved (the first? the
    last? caches and proxies disagree)."""
    counts = Counter(key for key, _ in query.multi_items())
    repeated = [key for key, count in counts.items() if count > 1]
    if repeated:
        errors = [field_error(key if key in QUERY_FIELDS else f"scheme.{key}", "given more than once", "one value")
                  for key in repeated]  # fmt: skip
        raise ProblemError(422, "; ".join(f"{e.field}: {e.message}" for e in errors), kind="invalid-request",
                           errors=errors)  # fmt: skip
    return dict(query)


def _from_query(query: dict[str, str]) -> dict[str, Any]:
    """The one-tensor body equivalent to GET /init's query string."""
    problems: text.Problems = []
    body: dict[str, Any] = {}
    text.top_level(query, body, problems)
    name = query.get("scheme", "")
    params = text.scheme_params(name, {k: v for k, v in query.items() if k not in QUERY_FIELDS}, problems)
    if problems:
        errors = [field_error(field, message) for field, message in problems]
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
    responses={
        **ARTIFACT_RESPONSES,
        206: {
            "description": "Partial Content: the byte ranges of the file a Range header asks for, one as is, "
            "several as multipart/byteranges",
            "content": {
                BINARY: {"schema": {"type": "string", "format": "binary"}},
                "multipart/byteranges": {"schema": {"type": "string", "format": "binary"}},
            },
            "headers": {"Content-Range": {"description": "the range sent (one range)", "schema": {"type": "string"}}},
        },
        304: {"description": "Not Modified: the ETag matched"},
        **problem_responses(416),
    },
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
    start: Annotated[str | None, Query(description=SHARD["start"], pattern=INDEX)] = None,
    stop: Annotated[str | None, Query(description=SHARD["stop"], pattern=INDEX)] = None,
    accept: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
    range_: Annotated[str | None, Header(alias="range")] = None,
    if_range: Annotated[str | None, Header()] = None,
    memory: RememberedDep = None,  # type: ignore[assignment]
    reservation: ReservationDep = None,  # type: ignore[assignment]
) -> Response:
    """The same artifact as POST /init with the one-tensor shorthand, addressable by URL, so any
    HTTP cache can serve repeats. Scheme parameters are query parameters (`&gain=2&mode=fan_out`).
    Range requests (single or multiple byte ranges) generate only the elements they cover;
    ``&start=&stop=`` returns a shard of raw little-endian elements."""
    media = negotiate(accept)
    raw = _from_query(_single(request.query_params))
    try:
        body = InitRequest.model_validate(raw)
    except ValidationError as error:
        found = validation_errors(error.errors(), raw)
        raise ProblemError(
            422, "; ".join(f"{e.field}: {e.message}" for e in found[:5]), kind="invalid-request", errors=found
        ) from None
    core = _checked(body, settings, settings.max_elements, "GET /init")
    if start is not None or stop is not None:
        return _shard(core, None, _index(start, "start"), _index(stop, "stop"), request.method, reservation)
    tag = etag(core, media)
    if matches(if_none_match, tag):
        return Response(status_code=304, headers=_headers(tag, media))
    if range_ and media == BINARY and request.method == "GET":
        partial = _partial(core, range_, if_range, reservation)
        if partial is not None:
            return partial
    return _respond(core, media, request.method, settings, memory, reservation)


@router.post(
    "/diagnostics",
    summary="Diagnostics only, for any size (streamed, bounded memory); or a histogram (SVG)",
    responses={
        200: {
            "description": "JSON diagnostics per tensor, or with Accept: image/svg+xml one tensor's histogram "
            "against its intended density",
            "content": {JSON: {"schema": {"type": "object"}}, SVG: {"schema": {"type": "string"}}},
        },
        **problem_responses(400, 406, 408, 413, 415, 422, 503),
    },
)
def post_diagnostics(
    body: InitRequest,
    settings: SettingsDep,
    reservation: ReservationDep,
    accept: Annotated[str | None, Header()] = None,
    tensor: Annotated[str | None, Query(description="the tensor to plot (needed with several)")] = None,
) -> Response:
    """The same body as POST /init; returns each tensor's diagnostics without the bytes. Tensors
    are generated chunk by chunk, so memory stays bounded however large they are."""
    media = negotiate(accept, (JSON, SVG))
    request = _checked(body, settings, settings.max_diagnostics_elements, "POST /diagnostics")
    reservation.reserve(working_bytes(request, held=False), "these diagnostics")
    if media == SVG:
        spec = _one_tensor(request, tensor)
        runs = sample_runs(spec.numel)
        values = np.concatenate([spec.out_dtype.to_float64(generate(spec, request.seed, a, b)) for a, b in runs])
        sampled = "" if len(runs) == 1 else f", {values.size:,} of {spec.numel:,} values"
        title = f"{spec.name}: {spec.plan.theory.label}{sampled}"
        return Response(histogram_svg(values, spec.plan.theory.cdf, title), media_type=SVG)
    report = diagnostics_report(request)
    return Response(json.dumps(finite(report), sort_keys=True, separators=(",", ":")), media_type=JSON)
