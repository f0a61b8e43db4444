"""Liveness, readiness and versions."""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .. import __version__, engine
from ..problems import PROBLEM
from .common import ParsedBodyRoute, get

__all__ = ["router"]

router = APIRouter(tags=["operations"], route_class=ParsedBodyRoute)


# Async on purpose: probes answer on the event loop even when every worker thread is busy
# generating or waiting for room in the memory budget.
@get(router, "/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get(
    router,
    "/readyz",
    summary="Readiness: warmed up and able to generate; this process's memory budget (bytes reserved now, "
    "the most reserved at once, requests refused with 503)",
    responses={503: {"description": "Warming up"}},
)
async def readyz(request: Request) -> Any:
    if not getattr(request.app.state, "ready", False):
        return JSONResponse(
            {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": "warming up"},
            status_code=503,
            media_type=PROBLEM,
            headers={"Retry-After": "1"},
        )
    budget = request.app.state.budget
    return {
        "status": "ready",
        "kernels": engine.kernels_in_use(),
        "memory_budget": {
            "bytes": budget.total,
            "in_use": budget.in_use,
            "peak": budget.peak,
            "refused": budget.refused,
        },
    }


@get(router, "/version", summary="Service, algorithm and library versions, and which value path computes")
def version() -> dict[str, Any]:
    return {
        "service": __version__,
        "algorithm": engine.algorithm(),
        "kernels": engine.kernels_in_use(),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
