"""GET /schemes and GET /schemes/{name}: the catalogue, read from the registry."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from .. import engine
from ..problems import ProblemError
from ..spec.schemes import scheme_names
from .common import ParsedBodyRoute, get

__all__ = ["router"]

router = APIRouter(tags=["schemes"], route_class=ParsedBodyRoute)


DIALECT_QUERY = (
    "a framework's vocabulary: its initializers by the names, parameters and defaults it uses, each with "
    "its initw meaning (default initw: the schemes themselves)"
)


@get(router, "/schemes", summary="Every scheme (or a framework's initializers): parameters, formula, random access")
def list_schemes(
    dialect: Annotated[Literal[engine.DIALECTS], Query(description=DIALECT_QUERY, examples=["keras"])] = "initw",  # type: ignore[valid-type]  # made at import time
) -> dict[str, Any]:
    """All schemes of the current algorithm, with each parameter's type, default and allowed range;
    with ``?dialect=keras`` (torch, jax, flax) that framework's initializers and what each means here."""
    return {
        "algorithm": engine.algorithm(),
        "dialect": dialect,
        "dialects": list(engine.DIALECTS),
        "schemes": engine.dialect_catalogue(dialect),
    }


@get(
    router,
    "/schemes/{name}",
    summary="One scheme, by name or alias",
    responses={404: {"description": "No such scheme"}},
)
def one_scheme(
    name: Annotated[
        str,
        Path(
            description="a scheme name or alias, or a framework's word",
            examples=["kaiming_normal", "keras.HeNormal"],
            json_schema_extra={"enum": scheme_names()},
        ),
    ],
) -> dict[str, Any]:
    """The scheme called ``name`` (aliases resolve to their scheme), or a framework word such as
    ``keras.HeNormal``."""
    word = engine.dialect_word(name)
    if word is not None:
        return engine.describe_word(word)
    try:
        return engine.describe(engine.get_scheme(name))
    except engine.InitError as error:
        raise ProblemError(404, f"no scheme named {name!r}; GET /schemes lists them", kind="unknown-scheme") from error
