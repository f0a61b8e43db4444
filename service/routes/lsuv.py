"""POST /init/lsuv: orthogonal weights rescaled layer by layer until each layer's output has the
target variance (Mishkin & Matas 2016), as a safetensors file or its JSON description."""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import engine
from ..problems import ProblemError
from ..representation import BINARY, IMMUTABLE, JSON, negotiate, repr_digest
from ..spec.network import LsuvRequest, input_batch, to_network
from .artifact import SafetensorsResponse
from .common import ParsedBodyRoute, accept_header, problem_responses, reservation_of

__all__ = ["router"]

router = APIRouter(tags=["diagnostics"], route_class=ParsedBodyRoute)


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
def post_lsuv(
    body: LsuvRequest, request: Request, accept: Annotated[str | None, accept_header(BINARY, JSON)] = None
) -> Response:
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
        x0 = engine.generate(
            engine.TensorSpec("input", (body.batch, body.input_width), "normal", dtype="float64"), body.seed
        )
        x0 = x0.reshape(body.batch, body.input_width)
    cost = engine.lsuv_cost(net, x0.shape[0], body.max_iterations)
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
    text = engine.canonical_json({"algorithm": engine.algorithm(), "procedure": "lsuv", "request": canonical})
    tag = '"' + hashlib.sha256(f"{media}\n{text}".encode()).hexdigest()[:40] + '"'
    cached = memory.body(tag)
    if cached is None:
        reservation_of(request).reserve(engine.lsuv_memory(net, x0.shape[0]), "this stack")
        weights, report = engine.lsuv(
            net, body.seed, x0, engine.LsuvSettings(body.tolerance, body.max_iterations, body.target_variance)
        )
        dtype = engine.get_dtype(body.dtype)
        tensors = {
            name: (dtype.safetensors, values.shape, dtype.round(values).tobytes()) for name, values in weights.items()
        }
        metadata = {"algorithm": engine.algorithm(), "seed": str(body.seed), "request": text,
                    "lsuv": engine.canonical_json(report), "format": "pt"}  # fmt: skip
        blob = engine.file_bytes(tensors, metadata)
        if media == BINARY:
            cached = blob
        else:
            described = {"algorithm": engine.algorithm(), "seed": body.seed, "lsuv": report,
                         "artifact": {"size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()},
                         "safetensors_base64": base64.b64encode(blob).decode("ascii")}  # fmt: skip
            cached = engine.report_text(described).encode()
        memory.remember(tag, hashlib.sha256(cached).digest(), cached)
    headers = {
        "ETag": tag,
        "Cache-Control": IMMUTABLE,
        "Vary": "Accept",
        "Repr-Digest": repr_digest(hashlib.sha256(cached).digest()),
    }
    return Response(cached, headers=headers, media_type=media)
