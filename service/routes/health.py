"""Liveness, readiness and versions."""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .. import __version__
from ..core.generate import algorithm
from ..problems import PROBLEM
from . import get

router = APIRouter(tags=["operations"])


@get(router, "/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get(
    router,
    "/readyz",
    summary="Readiness: warmed up and able to generate",
    responses={503: {"description": "Warming up"}},
)
def readyz(request: Request) -> Any:
    if not getattr(request.app.state, "ready", False):
        return JSONResponse(
            {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": "warming up"},
            status_code=503,
            media_type=PROBLEM,
            headers={"Retry-After": "1"},
        )
    return {"status": "ready"}


@get(router, "/version", summary="Service, algorithm and library versions")
def version() -> dict[str, str]:
    return {
        "service": __version__,
        "algorithm": algorithm(),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
