"""Schemathesis checks of what the schema cannot say, for every response the fuzzer gets.

Loaded by ``schemathesis.toml`` (``hooks``), so the CLI against a live server and
tests/contract/ in process run the same checks:

- a safetensors answer (200 application/octet-stream of /init, /init/lsuv and a pre-training
  artifact) parses with the stock parser (``safetensors.deserialize``: every dtype, bfloat16
  included, which numpy cannot hold), and its SHA-256 is the ``Repr-Digest`` header
  (``sha-256=:<base64>:``, RFC 9530) wherever the service sends one; a shard (``Initw-Elements``)
  holds exactly the elements it names;
- every 4xx answer is an RFC 9457 problem: ``application/problem+json``, with ``status`` equal to
  the HTTP status, a ``title`` and a ``detail``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import schemathesis
from safetensors import deserialize

from service.core.dtype_codes import CODES

BINARY = "application/octet-stream"
PROBLEM = "application/problem+json"
DIGEST = re.compile(r"^sha-256=:([A-Za-z0-9+/]{43}=):$")
SAFETENSORS_PATHS = ("/init", "/init/lsuv", "/pretrain/{job}/artifact")
ITEMSIZE = {code: entry.itemsize for code, entry in CODES.items() if entry.generated}  # what a shard may hold


def _header(response: Any, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


def _media(response: Any) -> str:
    return (_header(response, "content-type") or "").split(";")[0].strip().lower()


def _whole(response: Any) -> bool:
    """Whether the body was kept whole (a check cannot judge the digest of a truncated copy)."""
    return response.request.method != "HEAD" and len(response.content) == response.content_size


def _shard(response: Any) -> None:
    elements = _header(response, "initw-elements") or ""
    match = re.fullmatch(r"(\d+)-(\d+)/(\d+)", elements)
    assert match, f"Initw-Elements {elements!r} is not first-stop/total"
    first, stop, total = map(int, match.groups())
    assert 0 <= first <= stop <= total, f"Initw-Elements {elements!r} is not a range of the tensor"
    dtype = _header(response, "initw-dtype") or ""
    assert dtype in ITEMSIZE, f"Initw-Dtype {dtype!r}"
    assert len(response.content) == (stop - first) * ITEMSIZE[dtype], (
        f"a shard of {stop - first} {dtype} elements holds {len(response.content)} bytes"
    )


@schemathesis.check
def safetensors_body_matches_its_digest(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 200 safetensors answer parses as safetensors; Repr-Digest is the body's SHA-256."""
    if not _whole(response):
        return None
    digest = _header(response, "repr-digest")
    if digest is not None:  # any representation that names its digest (JSON ones too) must match it
        match = DIGEST.match(digest)
        assert match, f"Repr-Digest {digest!r} is not sha-256=:<base64 of 32 bytes>:"
        actual = hashlib.sha256(response.content).digest()
        assert base64.b64decode(match.group(1)) == actual, (
            f"Repr-Digest {digest} but the body's SHA-256 is {base64.b64encode(actual).decode()}"
        )
    if response.status_code != 200 or _media(response) != BINARY or case.path not in SAFETENSORS_PATHS:
        return None
    if _header(response, "initw-elements") is not None:
        _shard(response)  # raw little-endian elements of one tensor, not a file
        return None
    if case.path != "/pretrain/{job}/artifact":
        assert digest is not None, f"a safetensors answer of {case.path} without Repr-Digest"
    try:
        deserialize(response.content)  # (a layer without parameters makes a file without tensors)
    except Exception as error:  # SafetensorError, from the reference (Rust) implementation
        raise AssertionError(f"the body is not a safetensors file: {error}") from None
    length = _header(response, "content-length")
    assert length is None or int(length) == len(response.content), f"Content-Length {length}"
    return None


@schemathesis.check
def client_errors_are_problem_details(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx is application/problem+json whose ``status`` is the HTTP status."""
    if not 400 <= response.status_code < 500:
        return None
    assert _media(response) == PROBLEM, f"a {response.status_code} answered as {_media(response)!r}"
    if response.request.method == "HEAD":
        return None
    try:
        problem = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"a {response.status_code} problem whose body is not JSON") from None
    assert isinstance(problem, dict), "a problem is a JSON object"
    assert problem.get("status") == response.status_code, (
        f"problem status {problem.get('status')!r} in a {response.status_code} answer"
    )
    assert isinstance(problem.get("title"), str) and problem["title"], "a problem needs a title"
    assert isinstance(problem.get("detail"), str), "a problem needs a detail"
    return None
