"""Parts of a file: byte ranges (RFC 9110 Range, one or multipart/byteranges) and shards (raw
little-endian elements [start, stop) of one tensor). Each part generates only the elements it
covers, so parts of a huge tensor can be made by any number of clients or servers."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse

from .. import engine, ranges
from ..admission import Reservation
from ..problems import ProblemError
from ..representation import BINARY, etag
from ..spec.errors import field_error
from .artifact import SafetensorsResponse, headers_of

__all__ = ["INDEX", "SHARD", "byte_ranges", "index", "one_tensor", "shard"]

INDEX = r"^[0-9]{1,20}$"  # what index() accepts, stated in the contract
SHARD = {
    "tensor": "shard: the tensor to send raw (needed when the request has several)",
    "start": "shard: first element (C order) of the raw little-endian slice",
    "stop": "shard: one past the last element",
}


def index(text: str | None, field: str) -> int | None:
    """A shard bound from the query string: decimal ASCII digits only, else 422."""
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 20:  # int() takes "²" (500) and "٣" too
        raise ProblemError(422, f"{field} must be a non-negative integer, got {text[:40]!r}", kind="invalid-request",
                           errors=[field_error(field, "must be a non-negative integer", ">= 0")])  # fmt: skip
    return int(text)


def byte_ranges(
    request: engine.Request, header: str, if_range: str | None, reservation: Reservation
) -> Response | None:
    """A 206 (or 416) for a Range request on the file; None to send the whole file instead."""
    tag = etag(request, BINARY)
    if if_range is not None and if_range.strip() != tag:
        return None  # the client's copy is another representation: send it whole
    artifact = engine.plan(request)  # the header needs only the summaries' samples
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
    reservation.reserve(engine.working_bytes(request, held=False), "these ranges")
    headers = {**headers_of(tag), "Accept-Ranges": "bytes"}
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


def one_tensor(request: engine.Request, name: str | None) -> engine.TensorSpec:
    """The tensor ``name`` of the request (or its only tensor), else a 422 listing the names."""
    names = [t.name for t in request.tensors]
    if name is None and len(names) == 1:
        name = names[0]
    if name not in names:
        detail = "name the tensor: ?tensor=NAME" if name is None else f"no tensor named {name!r}"
        error = field_error("tensor", "required, one of the request's tensors", ", ".join(names))
        raise ProblemError(422, detail, kind="invalid-request", errors=[error])
    return request.tensor(name)


def shard(
    request: engine.Request,
    tensor: str | None,
    start: int | None,
    stop: int | None,
    method: str,
    reservation: Reservation,
) -> Response:
    """Raw little-endian elements [start, stop) of one tensor: parts of a huge tensor, made by any
    number of clients or servers, that concatenate to the whole."""
    spec = one_tensor(request, tensor)
    first = 0 if start is None else start
    last = spec.numel if stop is None else stop
    if not 0 <= first <= last <= spec.numel:
        field = "stop" if last > spec.numel else "start"
        error = field_error(field, "0 <= start <= stop <= elements", f"0 .. {spec.numel}")
        detail = f"elements [{first}, {last}) are outside {spec.name!r}, which has {spec.numel:,}"
        raise ProblemError(422, detail, kind="invalid-request", errors=[error])
    itemsize = spec.out_dtype.itemsize
    tag = f"{etag(request, BINARY)}|shard|{spec.name}|{first}|{last}"
    tag = '"' + hashlib.sha256(tag.encode()).hexdigest()[:40] + '"'
    headers = {
        **headers_of(tag),
        "Content-Length": str((last - first) * itemsize),
        "Initw-Tensor": quote(spec.name, safe="/:"),  # percent-encoded UTF-8: ASCII names unchanged
        "Initw-Dtype": spec.out_dtype.safetensors,
        "Initw-Shape": ",".join(map(str, spec.shape)),
        "Initw-Elements": f"{first}-{last}/{spec.numel}",
    }
    if method == "HEAD":
        return Response(status_code=200, headers=headers, media_type=BINARY)
    reservation.reserve(engine.working_bytes(request, held=False), "this shard")
    body = engine.tensor_bytes(spec, request.seed, first * itemsize, last * itemsize)
    return SafetensorsResponse(body, headers=headers)
