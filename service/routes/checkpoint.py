"""POST /init/checkpoint/{file}: one file of a request's sharded checkpoint in Hugging Face's layout
(``model-00002-of-00005.safetensors`` or ``model.safetensors.index.json``), so N machines can each
fetch theirs. Every shard is byte-identical however and wherever it is made; the index generates
nothing. The split: service.core.checkpoint."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import Response

from .. import engine
from ..problems import ProblemError
from ..representation import BINARY, JSON, checkpoint_etag, matches, negotiate, repr_digest
from ..spec.errors import field_error
from ..spec.request import InitRequest, to_request
from .artifact import ARTIFACT_RESPONSES, SafetensorsResponse, headers_of, light, respond_file, small, warned
from .common import (
    ParsedBodyRoute,
    RememberedDep,
    ReservationDep,
    SettingsDep,
    accept_header,
    offload,
    problem_responses,
)

__all__ = ["FILE", "SHARD_SIZE", "router"]

router = APIRouter(tags=["weights"], route_class=ParsedBodyRoute)

SHARD_SIZE = (
    "the largest shard, in bytes of tensor data: an integer or a number with a unit, 5GB, 500MB (powers of 10, as "
    "huggingface_hub reads them), 2GiB (powers of 2); a tensor larger than it gets a shard of its own"
)
FILE = (
    "model-0000K-of-0000N.safetensors (shard K of N; the index names them) or model.safetensors.index.json "
    "(the index: total_size and weight_map, as transformers reads them)"
)


SIZES = "1 to 2^53-1 bytes, e.g. 5GB, 500MB, 2GiB, 1000000"


def _shard_size(text: str) -> int:
    try:
        return engine.parse_size(text)
    except ValueError as error:
        found = [field_error("shard_size", str(error), SIZES)]
        raise ProblemError(422, f"shard_size: {error}", kind="invalid-request", errors=found) from None


def _split(request: engine.Request, shard_size: int) -> engine.Checkpoint:
    try:
        return engine.checkpoint(request, shard_size)
    except ValueError as error:
        found = [field_error("shard_size", str(error), "a size giving at most 99,999 shards")]
        raise ProblemError(422, f"shard_size: {error}", kind="invalid-request", errors=found) from None


def _listing(files: tuple[str, ...]) -> str:
    shown = files if len(files) <= 3 else (files[0], "...", files[-1])
    return ", ".join((*shown, engine.INDEX_NAME))


def _precondition(if_none_match: str | None, tag: str) -> None:
    if matches(if_none_match, tag):
        raise ProblemError(412, "If-None-Match matched: a POST cannot answer 304", kind="precondition-failed")


@router.post(
    "/init/checkpoint/{file}",
    summary="One file of a sharded checkpoint in Hugging Face's layout: a shard, or the index",
    response_class=SafetensorsResponse,
    responses={
        **ARTIFACT_RESPONSES,
        200: {
            "description": "A shard (a safetensors file of its tensors) or, for model.safetensors.index.json, "
            "the index (JSON: metadata.total_size, weight_map).",
            "content": {
                BINARY: {"schema": {"type": "string", "format": "binary"}},
                JSON: {"schema": {"type": "object"}},
            },
            "headers": ARTIFACT_RESPONSES[200]["headers"],
        },
        **problem_responses(404, 408, 412),
    },
)
async def post_checkpoint(
    body: InitRequest,
    file: Annotated[
        str,
        Path(
            description=FILE,
            max_length=64,
            examples=[engine.INDEX_NAME, "model-00001-of-00001.safetensors"],
            json_schema_extra={"pattern": engine.FILE_PATTERN},
        ),
    ],
    shard_size: Annotated[
        str,
        Query(
            description=SHARD_SIZE, max_length=64, examples=["5GB"], json_schema_extra={"pattern": engine.SIZE_PATTERN}
        ),
    ],
    settings: SettingsDep,
    memory: RememberedDep,
    reservation: ReservationDep,
    accept: Annotated[str | None, accept_header(BINARY, JSON)] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The same tensors as POST /init of the body, split into files of at most ``shard_size``
    bytes of tensor data (huggingface_hub's rule, in request order): shard K of N as
    ``model-0000K-of-0000N.safetensors``, byte-identical from any process, or the index
    ``model.safetensors.index.json``, made without generating any tensor. The element cap
    (INITW_MAX_ELEMENTS) applies to each shard, not to the whole checkpoint."""
    size = _shard_size(shard_size)
    request = await offload(lambda: to_request(body), reservation, light(body))
    split = _split(request, size)
    tag = checkpoint_etag(request, size, file)
    if file == engine.INDEX_NAME:
        negotiate(accept, (JSON,))
        _precondition(if_none_match, tag)
        content = split.index_bytes()
        headers = {**headers_of(tag), "Repr-Digest": repr_digest(hashlib.sha256(content).digest()),
                   "Content-Disposition": f'attachment; filename="{engine.INDEX_NAME}"'}  # fmt: skip
        return warned(Response(content, headers=headers, media_type=JSON), request)
    shard = split.shard_of(file)
    if shard is None:
        detail = f"this checkpoint ({split.count} shards of at most {size:,} bytes) has no file {file[:64]!r}"
        error = field_error("file", "one of the checkpoint's files", _listing(split.files))
        raise ProblemError(404, detail, kind="no-such-file", errors=[error])
    negotiate(accept, (BINARY,))
    _precondition(if_none_match, tag)
    part = split.shard_request(shard)
    if part.numel > settings.max_elements:
        raise ProblemError(
            413,
            f"shard {shard} of {split.count} holds {part.numel:,} elements; POST /init/checkpoint makes at most "
            f"{settings.max_elements:,} per shard: ask for smaller shards",
            kind="too-many-elements",
        )

    def answer() -> Response:
        response = respond_file(part, tag, file, "POST", settings, memory, reservation)
        response.headers["Initw-Shard"] = f"{shard}/{split.count}"
        return response

    return warned(await offload(answer, reservation, small(part)), request)
