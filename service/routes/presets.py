"""GET /presets and GET /presets/{name}: the architecture presets of ``{"model": {"preset": ...}}``,
read from their pydantic models (service.spec.presets)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from ..problems import ProblemError
from ..spec import presets
from .common import ParsedBodyRoute, get

__all__ = ["router"]

router = APIRouter(tags=["presets"], route_class=ParsedBodyRoute)


@get(router, "/presets", summary="Every architecture preset: its rule and paper, its fields, an example body")
def list_presets() -> dict[str, Any]:
    """All presets a request's ``model`` may name, each with its rule and paper, every field's type,
    default (or required), allowed range and meaning, and an example body that POST /init accepts;
    withdrawn presets are listed with why and what replaces them."""
    return {"presets": presets.catalogue()}


@get(
    router,
    "/presets/{name}",
    summary="One architecture preset, by name",
    responses={404: {"description": "No such preset"}},
)
def one_preset(
    name: Annotated[
        str, Path(description="a preset's name", examples=["gpt2"], json_schema_extra={"enum": list(presets.MODELS)})
    ],
) -> dict[str, Any]:
    """The preset called ``name``: its rule and paper, its fields, an example body."""
    if name not in presets.MODELS:
        raise ProblemError(404, f"no preset named {name!r}; GET /presets lists them", kind="unknown-preset")
    return presets.describe(name)
