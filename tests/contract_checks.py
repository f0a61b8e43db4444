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

import numpy as np
import schemathesis
from pydantic import ValidationError
from safetensors import deserialize
from safetensors.numpy import save

from service import engine
from service.core import dialects
from service.core.dtype_codes import CODES
from service.core.errors import InitError
from service.problems import ProblemError
from service.representation import BINARY as OCTETS
from service.representation import JSON, SVG, negotiate
from service.spec import text
from service.spec.network import LsuvRequest, NetworkRequest, input_batch
from service.spec.network import to_network as stack_network
from service.spec.pretrain import PretrainRequest
from service.spec.pretrain import to_network as pretrain_network
from service.spec.request import InitRequest, to_request
from service.spec.schemes import SCHEME_MODELS

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


# ---------------------------------------------------------------------------------------------
# Positive data the schema cannot keep valid by itself.
#
# openapi.json states every rule of one field (types, ranges, patterns, enums, required fields,
# each scheme's parameters). What relates several fields, or a field to the content of an upload,
# JSON Schema cannot state; these two hooks keep *positive* generation inside it, so that
# positive_data_acceptance can hold every other refusal (422) against the schema:
#
# - map_case puts a real safetensors file where a body uploads one (the content of a base64
#   string is beyond JSON Schema);
# - filter_case drops the positive cases that one of the rules below refuses, each named after the
#   validator it mirrors, and those over the small limits the fuzzed servers run with (413 is the
#   server's resource limit, not a verdict on the data: schemathesis.toml says so, and this keeps it
#   rare).
#
# Negative cases are left alone. tests/contract/test_hooks.py checks that each rule's verdict is
# the server's: a kept case is never answered 422, a dropped one always is (or 413, 412, 406).
# ---------------------------------------------------------------------------------------------

# The limits the fuzzed servers run with (tests/contract/conftest.py; the CLI's server, in
# schemathesis.toml's comment).
MAX_ELEMENTS = 1 << 18  # the examples' [256, 784] (200,704 elements) fit
BUDGET = 1e7
ROWS = 4  # rows of an uploaded matrix
INIT_BODIES = ("/init", "/diagnostics", "/init/checkpoint/{file}")


def upload(name: str, rows: int, width: int) -> str:
    """base64 of a safetensors file holding tensor ``name`` [rows, width] (float32, finite)."""

    values = (np.arange(rows * width, dtype=np.float32).reshape(rows, width) % 7) / 7
    return base64.b64encode(save({name: values})).decode()


def _positive(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode.name == "POSITIVE"


def with_uploads(path: str, body: Any) -> Any:
    """``body`` with a file wherever it uploads one: a matrix [ROWS, input_width] named as the field
    for /pretrain's ``data`` and a stack's ``input`` (spec.network.uploaded_matrix), and any file for
    ``pretrained`` (spec.request._pretrained reads it; only tensors with the same name and shape are kept)."""
    if not isinstance(body, dict):
        return body
    width = body.get("input_width")
    width = int(width) if isinstance(width, (int, float)) and not isinstance(width, bool) else None
    if path == "/pretrain" and width is not None and "data" in body:
        return {**body, "data": upload("data", ROWS, width)}
    if path in ("/diagnostics/network", "/init/lsuv") and width is not None and body.get("input") is not None:
        return {**body, "input": upload("input", ROWS, width)}
    if path in INIT_BODIES and body.get("pretrained") is not None:
        return {**body, "pretrained": upload("pretrained", 1, 1)}
    return body


@schemathesis.hook
def map_case(ctx: Any, case: Any) -> Any:
    if _positive(case) and isinstance(case.body, dict):
        case.body = with_uploads(case.operation.path, case.body)
    return case


@schemathesis.hook
def filter_case(ctx: Any, case: Any) -> bool:
    if not _positive(case):
        return True
    body = with_uploads(case.operation.path, case.body)
    file = (case.path_parameters or {}).get("file")
    return refusal(case.operation.path, case.method.upper(), body, case.query or {}, case.headers or {}, file) is None


def refusal(
    path: str, method: str, body: Any, query: dict[str, Any], headers: dict[str, Any], file: str | None = None
) -> str | None:
    """Why the service refuses this schema-valid request (the rule, named after the validator it
    mirrors, or "413 ..." where it passes a small limit), or None where it accepts it."""
    none_match = headers.get("if-none-match")
    if path == "/init" and method == "GET":
        found = _query_body(query)
        if isinstance(found, str):
            return found
        body = found
    if path in INIT_BODIES:
        return _init(path, method, body, {**query, "file": file}, headers.get("accept"), none_match)
    if path in ("/diagnostics/network", "/init/lsuv"):
        return _stack(path, body)
    if path == "/pretrain":
        return _pretrain(body)
    return None


def _query_body(query: dict[str, Any]) -> dict[str, Any] | str:
    """GET /init's query as the body it describes (spec.text.body_from_text, as routes.init reads it)."""
    texts = {key: ",".join(map(str, v)) if isinstance(v, list) else str(v) for key, v in query.items() if v is not None}
    if texts.get("name") == "__metadata__":  # fields._not_reserved: the schema's "not", which the coverage
        return "fields._not_reserved: __metadata__"  # phase leaves out of query parameters
    fields = {key: value for key, value in texts.items() if key not in ("start", "stop")}
    body = text.body_from_text(fields, {}, [])
    return {**body, **{key: texts[key] for key in ("start", "stop") if key in texts}}


def _schemes(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The schemes a body's fields give (the shorthand's, each tensor's, each layer's), as objects."""
    found = [body.get("scheme")]
    found += [t.get("scheme") for t in body.get("tensors") or [] if isinstance(t, dict)]
    found += [
        layer.get(k)
        for layer in body.get("layers") or []
        if isinstance(layer, dict)
        for k in ("weight_init", "bias_init")
    ]
    return [{"name": s} if isinstance(s, str) else s for s in found if isinstance(s, (str, dict))]


def _fields(body: dict[str, Any]) -> str | None:
    """The cross-field validators of the InitRequest model (spec.request, spec.layers, spec.architectures)."""

    stray = [key for key in ("name", "scheme", "fan_in", "fan_out") if body.get(key) is not None]
    if body.get("shape") is None:
        if stray:
            return "InitRequest._one_way_or_more: the shorthand's fields need shape"
        if not body.get("tensors") and not body.get("layers") and body.get("model") is None:
            return "InitRequest._one_way_or_more: nothing to initialize"
    elif body.get("scheme") is None:
        return "InitRequest._one_way_or_more: shape needs scheme"
    dialect = body.get("dialect")
    if dialect not in (None, "initw"):
        for scheme in _schemes(body):  # each name means the dialect's word, with that word's parameters
            name = dialects.qualify(str(scheme.get("name")), dialect)
            word = dialects.lookup(name)
            if word is None:
                return f"InitRequest._speak_dialect: {scheme.get('name')!r} is no {dialect} word"
            try:
                SCHEME_MODELS[word.qualified].model_validate({**scheme, "name": name})
            except ValidationError:
                return f"InitRequest._speak_dialect: {name}'s parameters are not {sorted(scheme)}"
    for layer in body.get("layers") or []:
        if str(layer.get("type", "")).startswith("conv"):
            axes, kernel, groups = int(layer["type"][-2]), layer["kernel_size"], layer.get("groups", 1)
            if isinstance(kernel, list) and len(kernel) != axes:
                return "ConvLayer._fits: kernel_size has one size per spatial axis"
            if layer["in_channels"] % groups or layer["out_channels"] % groups:
                return "ConvLayer._fits: channels divisible by groups"
    if isinstance(body.get("model"), dict) and body["model"].get("preset") == "mup_mlp":
        return "WithdrawnMupMlp._withdrawn"
    return None


def _init(
    path: str, method: str, body: Any, query: dict[str, Any], accept: str | None, none_match: str | None
) -> str | None:
    """POST /init, GET /init (its query as a body), POST /diagnostics, POST /init/checkpoint/{file}."""
    if not isinstance(body, dict) or (rule := _fields(body)) is not None:
        return rule
    checkpoint = path == "/init/checkpoint/{file}"
    if checkpoint:
        try:  # routes.checkpoint._shard_size
            size = engine.parse_size(str(query.get("shard_size")))
        except ValueError as error:
            return f"routes.checkpoint._shard_size: {error}"
    try:
        request = to_request(InitRequest.model_validate({k: v for k, v in body.items() if k not in ("start", "stop")}))
    except ValidationError:
        return None  # a rule of one field: the schema's to state (positive_data_acceptance reports it)
    except InitError as error:  # a tensor its scheme refuses (rank, fans, a < b), a name used twice
        return f"spec.request.to_request: {error}"
    if checkpoint:
        return _checkpoint(request, size, query.get("file") or "", accept, none_match)
    if request.numel > MAX_ELEMENTS:
        return f"413 routes.artifact.checked: {request.numel} elements"
    tensor, start, stop = (
        query.get("tensor"),
        query.get("start", body.get("start")),
        query.get("stop", body.get("stop")),
    )
    if (path == "/diagnostics" and negotiate(accept, (JSON, SVG)) == SVG) or (
        path == "/init" and (tensor, start, stop) != (None, None, None)
    ):
        names = [t.name for t in request.tensors]
        if tensor not in names and not (tensor is None and len(names) == 1):
            return "routes.partial.one_tensor: name one of the request's tensors"
        numel = request.tensor(tensor or names[0]).numel
        if not 0 <= int(start or 0) <= (numel if stop is None else int(stop)) <= numel:
            return "routes.partial.shard: 0 <= start <= stop <= elements"
        return None  # a shard or a plot: no If-None-Match
    if method == "POST" and path == "/init" and none_match is not None and none_match.strip() == "*":
        return "representation.matches: If-None-Match * matches every POST (412)"
    return None


def _checkpoint(request: Any, size: int, file: str, accept: str | None, none_match: str | None) -> str | None:
    """routes.checkpoint.post_checkpoint, after the body: the split, the file, its representation."""
    try:
        split = engine.checkpoint(request, size)  # routes.checkpoint._split
    except ValueError as error:
        return f"routes.checkpoint._split: {error}"
    shard = split.shard_of(file)
    if file != engine.INDEX_NAME and shard is None:
        return None  # 404: not a file of this checkpoint
    try:
        negotiate(accept, (JSON,) if shard is None else (OCTETS,))
    except ProblemError:
        return f"representation.negotiate: {file} has one representation (406)"
    if none_match is not None and none_match.strip() == "*":
        return "representation.matches: If-None-Match * matches every POST (412)"
    if shard is not None and split.shard_request(shard).numel > MAX_ELEMENTS:
        return "413 routes.checkpoint: elements per shard"
    return None


def _stack(path: str, body: Any) -> str | None:

    if not isinstance(body, dict):
        return None
    layers = [layer for layer in body.get("layers") or [] if isinstance(layer, dict)]
    if sum(layer.get("repeat", 1) for layer in layers) > 1000:
        return "spec.network._depth: at most 1000 layers"
    try:
        parsed = (NetworkRequest if path == "/diagnostics/network" else LsuvRequest).model_validate(body)
        spec = parsed if isinstance(parsed, NetworkRequest) else parsed.as_network()
        net = stack_network(spec)  # residual widths, a scheme that refuses its [width, fan_in] weight
    except ValidationError:
        return None
    except InitError as error:
        return f"spec.network.to_network: {error}"
    batch = ROWS if parsed.input is not None else parsed.batch
    if isinstance(parsed, NetworkRequest):
        widest = max(net.input_width, *(layer.width for layer in net.layers))
        exact = parsed.jacobian == "exact" or (parsed.jacobian == "auto" and widest <= engine.EXACT_JACOBIAN_WIDTH)
        return f"413 routes.network: {net.cost(batch, exact):.3g}" if net.cost(batch, exact) > BUDGET else None
    if engine.lsuv_cost(net, batch, parsed.max_iterations) > BUDGET:
        return "413 routes.lsuv: over budget"
    # analysis.lsuv.lsuv refuses a layer whose output variance on the batch is 0 (a stack of narrow
    # relu layers can zero every sample): only running it tells, as the server does.

    x0 = input_batch(spec)
    if x0 is None:
        x0 = engine.generate(
            engine.TensorSpec("input", (batch, net.input_width), "normal", dtype="float64"), parsed.seed
        )
        x0 = x0.reshape(batch, net.input_width)
    try:
        engine.lsuv(
            net, parsed.seed, x0, engine.LsuvSettings(parsed.tolerance, parsed.max_iterations, parsed.target_variance)
        )
    except InitError as error:
        return f"analysis.lsuv.lsuv: {error}"
    return None


def _pretrain(body: Any) -> str | None:

    try:
        parsed = PretrainRequest.model_validate(body)
        net = pretrain_network(parsed)
    except ValidationError:
        return None
    except InitError as error:
        return f"spec.pretrain.to_network: {error}"
    widths = [net.input_width] + [layer.width for layer in net.layers]
    return "413 routes.pretrain: over budget" if engine.pretrain_cost(ROWS, widths, parsed.epochs) > BUDGET else None
