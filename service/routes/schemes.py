"""GET /schemes and GET /schemes/{name}: the catalogue, read from the registry."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from .. import engine
from ..problems import ProblemError
from .common import ParsedBodyRoute, get

__all__ = ["router"]

router = APIRouter(tags=["schemes"], route_class=ParsedBodyRoute)


@get(router, "/schemes", summary="Every scheme: aliases, parameters, formula, random access")
def list_schemes() -> dict[str, Any]:
    """All schemes of the current algorithm, with each parameter's type, default and allowed range."""
    return {"algorithm": engine.algorithm(), "schemes": engine.catalogue()}


@get(
    router,
    "/schemes/{name}",
    summary="One scheme, by name or alias",
    responses={404: {"description": "No such scheme"}},
)
def one_scheme(name: str) -> dict[str, Any]:
    """The scheme called ``name`` (aliases resolve to their scheme)."""
    try:
        return engine.describe(engine.get_scheme(name))
    except engine.InitError as error:
        raise ProblemError(404, f"no scheme named {name!r}; GET /schemes lists them", kind="unknown-scheme") from error
