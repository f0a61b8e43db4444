"""A request's whole file, as the routes answer it: safetensors bytes (held in memory or streamed,
its digest from the cache or a first pass) or its JSON representation (diagnostics and base64)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from fastapi.responses import Response, StreamingResponse

from .. import engine
from ..admission import Reservation
from ..problems import ProblemError
from ..representation import BINARY, IMMUTABLE, JSON, Remembered, etag, repr_digest
from ..settings import Settings
from ..spec.request import InitRequest, to_request
from .common import problem_responses

__all__ = [
    "ARTIFACT_RESPONSES",
    "INLINE_ELEMENTS",
    "SafetensorsResponse",
    "checked",
    "describe_artifact",
    "headers_of",
    "light",
    "respond",
    "respond_file",
    "warned",
    "small",
]

JSON_COPIES = 6.0  # tensors, file, base64 (4/3), JSON text and its bytes (2 x 4/3)
# Requests up to this many elements of random-access schemes are answered on the event loop
# (common.offload): 256 x 256 takes ~1-2.5 ms there, and a worker thread's hop about 0.6 ms more.
INLINE_ELEMENTS = 1 << 17


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


def checked(body: InitRequest, limit: int, what: str) -> engine.Request:
    """The engine's request of a validated body, within the element cap ``limit`` (else 413)."""
    request = to_request(body)
    if request.numel > limit:
        raise ProblemError(
            413,
            f"the request asks for {request.numel:,} elements; {what} serves at most {limit:,} per request",
            kind="too-many-elements",
        )
    return request


def light(body: InitRequest) -> bool:
    """A body that is quick to validate and expand: no preset, no uploaded file, a few entries."""
    return body.model is None and body.pretrained is None and len(body.tensors) + len(body.layers) <= 8


def small(request: engine.Request) -> bool:
    """A request whose answer takes a few milliseconds at most: few elements, nothing uploaded,
    and only random-access schemes (no QR of a whole matrix)."""
    return (
        request.numel <= INLINE_ELEMENTS
        and not request.kept
        and all(spec.plan.random_access for spec in request.tensors)
    )


def headers_of(tag: str) -> dict[str, str]:
    """What every representation of a request carries: its validator and that it never changes."""
    return {"ETag": tag, "Cache-Control": IMMUTABLE, "Vary": "Accept"}


def _binary_response(
    request: engine.Request,
    tag: str,
    method: str,
    settings: Settings,
    memory: Remembered,
    reservation: Reservation,
    filename: str | None = None,
) -> Response:
    """The file: from the cache, from memory (one pass, up to INITW_MEMORY_BYTES and if it fits the
    memory budget), or streamed in bounded memory with its digest from the cache or a first pass
    (HEAD skips that pass). ``filename``: what Content-Disposition calls it (default: from the ETag)."""
    headers = {
        **headers_of(tag),
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'attachment; filename="{filename or f"initw-{tag[1:13]}.safetensors"}"',
    }
    if request.transfer is not None:
        counts = {key: len(value) for key, value in request.transfer.items()}
        headers["Initw-Transfer"] = ", ".join(f"{key}={count}" for key, count in counts.items())
    body = memory.body(tag)
    if body is None:
        held = (
            request.nbytes <= settings.memory_bytes
            and engine.working_bytes(request, held=True) <= settings.memory_budget_bytes
        )
        reservation.reserve(engine.working_bytes(request, held), "this file")
        artifact = engine.build(request) if held else engine.plan(request)
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
    request: engine.Request, tag: str, method: str, settings: Settings, memory: Remembered, reservation: Reservation
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
        reservation.reserve(engine.working_bytes(request, held=True, copies=JSON_COPIES), "this JSON representation")
        artifact = engine.build(request, diagnose=True)
        if artifact.size > settings.json_max_bytes:
            raise ProblemError(
                413,
                f"the safetensors file is {artifact.size:,} bytes, more than the {settings.json_max_bytes:,} sent "
                f"as base64 JSON (INITW_JSON_MAX_BYTES); ask for {BINARY} (the default) to download it",
                kind="json-too-large",
            )
        content = json.dumps(describe_artifact(artifact, tag), sort_keys=True, separators=(",", ":")).encode()
        memory.remember(tag, hashlib.sha256(content).digest(), content)
    headers = {**headers_of(tag), "Repr-Digest": repr_digest(hashlib.sha256(content).digest())}
    if method == "HEAD":
        headers["Content-Length"] = str(len(content))
        return Response(status_code=200, headers=headers, media_type=JSON)
    return Response(content, headers=headers, media_type=JSON)


def respond(
    request: engine.Request, media: str, method: str, settings: Settings, memory: Remembered, reservation: Reservation
) -> Response:
    """The whole representation ``media`` of ``request`` (the file, or its JSON description)."""
    tag = etag(request, media)
    if media == BINARY:
        return _binary_response(request, tag, method, settings, memory, reservation)
    return _json_response(request, tag, method, settings, memory, reservation)


def respond_file(
    request: engine.Request,
    tag: str,
    filename: str,
    method: str,
    settings: Settings,
    memory: Remembered,
    reservation: Reservation,
) -> Response:
    """The safetensors file of ``request`` under a validator ``tag`` and a ``filename`` of the
    caller's (a checkpoint's shard: its ETag is not POST /init's of the same tensors)."""
    return _binary_response(request, tag, method, settings, memory, reservation, filename)


def warned(response: Response, request: engine.Request) -> Response:
    """``response`` with one ``Initw-Warning`` header per warning of the request (whole files,
    ranges, shards and 304s alike; the file's bytes never carry them)."""
    for warning in request.warnings:
        response.headers.append("Initw-Warning", warning)
    return response


def describe_artifact(artifact: engine.Artifact, tag: str) -> dict[str, Any]:
    """The JSON representation: what the file holds, its digest, diagnostics and the bytes."""
    tensors = []
    for spec in artifact.request.tensors:
        begin, end = artifact.layout.file_range(spec.name)
        entry = artifact.request.entry(spec)
        tensors.append(
            {
                "name": spec.name,
                "shape": list(spec.shape),
                "dtype": engine.dtype_name(entry.dtype),
                "safetensors_dtype": entry.dtype,
                "nbytes": entry.nbytes,
                "file_offsets": [begin, end],
                "kept": spec.name in artifact.request.kept,
            }
        )
    transfer = {} if artifact.request.transfer is None else {"transfer": artifact.request.transfer}
    warnings = {"warnings": list(artifact.request.warnings)} if artifact.request.warnings else {}
    return {
        **transfer,
        **warnings,
        "algorithm": engine.algorithm(),
        "seed": artifact.request.seed,
        "request": artifact.request.canonical(),
        "artifact": {"media_type": BINARY, "size": artifact.size, "sha256": artifact.sha256.hex(),
                     "etag": etag(artifact.request, BINARY)},
        "tensors": tensors,
        "diagnostics": engine.finite(artifact.diagnostics),
        "safetensors_base64": base64.b64encode(artifact.to_bytes()).decode("ascii"),
    }  # fmt: skip
