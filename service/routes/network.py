"""POST /diagnostics/network: will this init train? Per-layer signal propagation, mean field,
Jacobian spectrum and verdicts, as JSON or as the signal-propagation plot (SVG)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import engine
from ..plots import propagation_svg
from ..problems import ProblemError
from ..representation import JSON, SVG, negotiate
from ..spec.network import NetworkRequest, input_batch, to_network
from .common import ParsedBodyRoute, accept_header, problem_responses, reservation_of

__all__ = ["router"]

router = APIRouter(tags=["diagnostics"], route_class=ParsedBodyRoute)


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
def post_network(
    body: NetworkRequest, request: Request, accept: Annotated[str | None, accept_header(JSON, SVG)] = None
) -> Response:
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
    exact = body.jacobian == "exact" or (body.jacobian == "auto" and widest <= engine.EXACT_JACOBIAN_WIDTH)
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
    report = engine.diagnose_network(net, body.seed, x0, batch, "exact" if exact else "probes")
    if media == SVG:
        depth = len(net.layers)
        title = f"{depth} layers, widest {widest}: {report['verdicts'][1]['reason']}"
        return Response(propagation_svg(report, title), media_type=SVG)
    return Response(engine.report_text(report), media_type=JSON)
