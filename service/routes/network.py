"""POST /diagnostics/network: will this init train? Per-layer signal propagation, mean field,
Jacobian spectrum and verdicts, as JSON or as the signal-propagation plot (SVG)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from ..analysis.lsuv import Settings as LsuvSettings
from ..analysis.lsuv import cost as lsuv_cost
from ..analysis.lsuv import lsuv
from ..analysis.lsuv import memory as lsuv_memory
from ..analysis.network import EXACT_JACOBIAN_WIDTH, diagnose_network
from ..core.artifact import canonical_json
from ..core.dtypes import get_dtype
from ..core.generate import TensorSpec, algorithm, generate
from ..core.write import file_bytes
from ..plots import propagation_svg
from ..problems import ProblemError
from ..representation import BINARY, IMMUTABLE, JSON, SVG, negotiate, repr_digest
from ..spec.network import LsuvRequest, NetworkRequest, input_batch, to_network
from . import finite, problem_responses, reservation_of
from .init import SafetensorsResponse

router = APIRouter(tags=["diagnostics"])


@router.post(
    "/diagnostics/network",
    summary="Signal propagation through an initialized stack: per layer, mean field, Jacobian, verdicts",
    responses={
        200: {
            "description": "The report (JSON), or with Accept: image/svg+xml the signal-propagation plot",
            "content": {JSON: {"schema": {"type": "object"}}, SVG: {"schema": {"type": "string"}}},
        },
        **problem_responses(400, 406, 408, 413, 415, 422, 503),
    },
)
def post_network(body: NetworkRequest, request: Request, accept: Annotated[str | None, Header()] = None) -> Response:
    """Initializes each layer's weight and bias with the core (the bytes POST /init gives for
    ``layers.{i}.weight`` / ``layers.{i}.bias``), pushes a batch forward (N(0, 1), or yours) and a
    random cotangent back, and reports per layer pre-activation variance, output second moment,
    gradient variance, dead and saturated units and sample collapse; for the stack the mean-field
    prediction (q*, chi1, phase), the input-output Jacobian (exact up to width 512, probes above)
    and verdicts with reasons."""
    media = negotiate(accept, (JSON, SVG))
    settings = request.app.state.settings
    net = to_network(body)
    x0 = input_batch(body)
    batch = body.batch if x0 is None else x0.shape[0]
    widest = max(net.input_width, *(layer.width for layer in net.layers))
    exact = body.jacobian == "exact" or (body.jacobian == "auto" and widest <= EXACT_JACOBIAN_WIDTH)
    cost = net.cost(batch, exact)
    if cost > settings.network_budget:
        raise ProblemError(
            413,
            f"this stack costs about {cost:.3g} multiply-adds (batch {batch}, depth {len(net.layers)}, widest "
            f"{widest}{', exact Jacobian' if exact else ''}); the budget is {settings.network_budget:.3g} "
            "(INITW_NETWORK_BUDGET): use a smaller batch, fewer or narrower layers, or jacobian='probes'",
            kind="over-budget",
        )
    reservation_of(request).reserve(net.memory(batch, exact), "this stack")
    report = diagnose_network(net, body.seed, x0, batch, "exact" if exact else "probes")
    if media == SVG:
        depth = len(net.layers)
        title = f"{depth} layers, widest {widest}: {report['verdicts'][1]['reason']}"
        return Response(propagation_svg(report, title), media_type=SVG)
    return Response(json.dumps(finite(report), sort_keys=True, separators=(",", ":")), media_type=JSON)


@router.post(
    "/init/lsuv",
    summary="LSUV: orthogonal weights rescaled layer by layer to unit output variance (a safetensors file)",
    response_class=SafetensorsResponse,
    responses={
        200: {
            "description": "The weights as a safetensors file (default), or with Accept: application/json the "
            "per-layer iterations and variances and the file in base64",
            "content": {
                BINARY: {"schema": {"type": "string", "format": "binary"}},
                JSON: {"schema": {"type": "object"}},
            },
        },
        **problem_responses(400, 406, 408, 413, 415, 422, 503),
    },
)
def post_lsuv(body: LsuvRequest, request: Request, accept: Annotated[str | None, Header()] = None) -> Response:
    """Mishkin & Matas (2016): each layer starts orthogonal (the core's bytes for
    ``layers.{i}.weight``), then is divided by the standard deviation of its output on the batch
    until the variance is within ``tolerance`` of ``target_variance``. Pinned arithmetic: the same
    file on every machine for a seed and a batch (docs/ALGORITHM.md section 13)."""
    media = negotiate(accept)
    settings, memory = request.app.state.settings, request.app.state.remembered
    spec = body.as_network()
    net = to_network(spec)
    x0 = input_batch(spec)
    if x0 is None:
        x0 = generate(TensorSpec("input", (body.batch, body.input_width), "normal", dtype="float64"), body.seed)
        x0 = x0.reshape(body.batch, body.input_width)
    cost = lsuv_cost(net, x0.shape[0], body.max_iterations)
    if cost > settings.lsuv_budget:
        raise ProblemError(
            413,
            f"LSUV on this stack may cost {cost:.3g} pinned multiply-adds; the budget is {settings.lsuv_budget:.3g} "
            "(INITW_LSUV_BUDGET): use a smaller batch or fewer, narrower layers",
            kind="over-budget",
        )
    canonical = body.model_dump(exclude={"input"})
    canonical["layers"] = [layer.model_dump() for layer in body.layers]
    canonical["input"] = (
        "N(0, 1)" if body.input is None else {"sha256": hashlib.sha256(body.input.encode()).hexdigest()}
    )
    text = canonical_json({"algorithm": algorithm(), "procedure": "lsuv", "request": canonical})
    tag = '"' + hashlib.sha256(f"{media}\n{text}".encode()).hexdigest()[:40] + '"'
    cached = memory.body(tag)
    if cached is None:
        reservation_of(request).reserve(lsuv_memory(net, x0.shape[0]), "this stack")
        weights, report = lsuv(
            net, body.seed, x0, LsuvSettings(body.tolerance, body.max_iterations, body.target_variance)
        )
        dtype = get_dtype(body.dtype)
        tensors = {
            name: (dtype.safetensors, values.shape, dtype.round(values).tobytes()) for name, values in weights.items()
        }
        metadata = {"algorithm": algorithm(), "seed": str(body.seed), "request": text, "lsuv": canonical_json(report),
                    "format": "pt"}  # fmt: skip
        blob = file_bytes(tensors, metadata)
        if media == BINARY:
            cached = blob
        else:
            described = {"algorithm": algorithm(), "seed": body.seed, "lsuv": report,
                         "artifact": {"size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()},
                         "safetensors_base64": base64.b64encode(blob).decode("ascii")}  # fmt: skip
            cached = json.dumps(finite(described), sort_keys=True, separators=(",", ":")).encode()
        memory.remember(tag, hashlib.sha256(cached).digest(), cached)
    headers = {
        "ETag": tag,
        "Cache-Control": IMMUTABLE,
        "Vary": "Accept",
        "Repr-Digest": repr_digest(hashlib.sha256(cached).digest()),
    }
    return Response(cached, headers=headers, media_type=media)
