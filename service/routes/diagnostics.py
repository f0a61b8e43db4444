"""POST /diagnostics: each tensor's statistics against theory, for any size, without the bytes;
or one tensor's histogram against its intended density (SVG)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import Response

from .. import engine
from ..plots import histogram_svg
from ..representation import JSON, SVG, negotiate
from ..spec.request import InitRequest
from .artifact import checked, warned
from .common import ParsedBodyRoute, ReservationDep, SettingsDep, accept_header, problem_responses
from .partial import one_tensor

__all__ = ["router"]

router = APIRouter(tags=["weights"], route_class=ParsedBodyRoute)


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
    accept: Annotated[str | None, accept_header(JSON, SVG)] = None,
    tensor: Annotated[str | None, Query(description="the tensor to plot (needed with several)")] = None,
) -> Response:
    """The same body as POST /init; returns each tensor's diagnostics without the bytes. Tensors
    are generated chunk by chunk, so memory stays bounded however large they are."""
    media = negotiate(accept, (JSON, SVG))
    request = checked(body, settings.max_diagnostics_elements, "POST /diagnostics")
    reservation.reserve(engine.working_bytes(request, held=False), "these diagnostics")
    if media == SVG:
        spec = one_tensor(request, tensor)
        runs = engine.sample_runs(spec.numel)
        values = np.concatenate([spec.out_dtype.to_float64(engine.generate(spec, request.seed, a, b)) for a, b in runs])
        sampled = "" if len(runs) == 1 else f", {values.size:,} of {spec.numel:,} values"
        title = f"{spec.name}: {spec.plan.theory.label}{sampled}"
        return warned(Response(histogram_svg(values, spec.plan.theory.cdf, title), media_type=SVG), request)
    return warned(Response(engine.report_text(engine.diagnostics_report(request)), media_type=JSON), request)
