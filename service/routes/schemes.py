"""GET /schemes and GET /schemes/{name}: the catalogue, read from the registry."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..core.catalogue import catalogue, describe
from ..core.errors import InitError
from ..core.generate import algorithm
from ..core.registry import get_scheme
from ..problems import ProblemError
from . import get

router = APIRouter(tags=["schemes"])


@get(router, "/schemes", summary="Every scheme: aliases, parameters, formula, random access")
def list_schemes() -> dict[str, Any]:
    """All schemes of the current algorithm, with each parameter's type, default and allowed range."""
    return {"algorithm": algorithm(), "schemes": catalogue()}


@get(
    router,
    "/schemes/{name}",
    summary="One scheme, by name or alias",
    responses={404: {"description": "No such scheme"}},
)
def one_scheme(name: str) -> dict[str, Any]:
    """The scheme called ``name`` (aliases resolve to their scheme)."""
    try:
        return describe(get_scheme(name))
    except InitError as error:
        raise ProblemError(404, f"no scheme named {name!r}; GET /schemes lists them", kind="unknown-scheme") from error
