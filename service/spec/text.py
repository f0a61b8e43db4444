"""Request fields written as text (GET /init's query string, the CLI's flags), typed as the request
language and the scheme registry say. What is not of its type is reported as (field path, message),
so both readers refuse the same text with the same words."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..core import schemes as _registered  # noqa: F401  (importing them registers every scheme)
from ..core.errors import InitError
from ..core.registry import get_scheme

TEXT_FIELDS = ("dtype", "layout", "name")
INTEGER_FIELDS = ("seed", "fan_in", "fan_out")
Problems = list[tuple[str, str]]


def typed(text: str, kind: str) -> Any:
    """``text`` as a value of a registry kind: bool (``true``/``false``), int (decimal), float
    (finite), str; ValueError for anything else."""
    if kind == "bool":
        if text not in ("true", "false"):
            raise ValueError(text)
        return text == "true"
    if kind == "int":
        return int(text, 10)
    if kind == "float":
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return value
    return text


def top_level(texts: Mapping[str, str], body: dict[str, Any], problems: Problems) -> None:
    """Sets the top-level fields of ``body`` that ``texts`` holds: dtype, layout, name as given,
    seed and the fans as integers, shape as comma-separated integers."""
    for key in TEXT_FIELDS:
        if key in texts:
            body[key] = texts[key]
    for key in INTEGER_FIELDS:
        if key in texts:
            try:
                body[key] = typed(texts[key], "int")
            except ValueError:
                problems.append((key, f"must be an integer, got {texts[key]!r}"))
    if "shape" in texts:
        try:
            body["shape"] = [typed(d, "int") for d in texts["shape"].split(",") if d.strip() != ""]
        except ValueError:
            problems.append(("shape", f"must be comma-separated integers, got {texts['shape']!r}"))


def scheme_params(scheme: str, texts: Mapping[str, str], problems: Problems) -> dict[str, Any]:
    """The parameters of ``scheme`` (a name or alias) typed by the registry; an unknown scheme's
    are kept as text, and its name is what validation reports."""
    try:
        kinds = {p.name: p.kind for p in get_scheme(scheme).params}
    except InitError:
        kinds = {}
    params: dict[str, Any] = {}
    for key, text in texts.items():
        kind = kinds.get(key, "str")
        try:
            params[key] = typed(text, kind)
        except ValueError:
            problems.append((f"scheme.{key}", f"must be a {kind}, got {text!r}"))
    return params
