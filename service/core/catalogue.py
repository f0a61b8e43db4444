"""The scheme catalogue as data and as Markdown, both read from the registry.

``describe`` is what ``GET /schemes`` returns; ``markdown`` renders docs/SCHEMES.md
(``python -m service.core.catalogue > docs/SCHEMES.md``; a test fails when the file drifts).
"""

from __future__ import annotations

import json
from typing import Any

from . import schemes as _schemes  # noqa: F401  (registers the catalogue)
from .registry import REGISTRY, Param, Scheme

__all__ = ["catalogue", "describe", "describe_param", "example_body", "markdown"]


def describe_param(param: Param) -> dict[str, Any]:
    info: dict[str, Any] = {"name": param.name, "type": param.kind, "required": param.required}
    if not param.required:
        info["default"] = param.default
    for bound in ("minimum", "maximum", "exclusive_minimum", "exclusive_maximum"):
        if getattr(param, bound) is not None:
            info[bound] = getattr(param, bound)
    if param.choices:
        info["choices"] = list(param.choices)
    if param.synonyms:
        info["synonyms"] = dict(param.synonyms)
    info["allowed"] = param.allowed()
    info["description"] = param.description
    return info


def example_body(scheme: Scheme) -> dict[str, Any]:
    """The scheme's example as a POST /init body (shorthand: one tensor, its default name)."""
    example = scheme.example
    return {"shape": list(example.shape), "layout": example.layout, "scheme": {"name": scheme.name, **example.params}}


def describe(scheme: Scheme) -> dict[str, Any]:
    """Name, aliases, parameters (type, default, allowed range), formula, random access, an example."""
    doc = scheme.doc.split("\n\n", 1)
    return {
        "name": scheme.name,
        "aliases": list(scheme.aliases),
        "family": scheme.family,
        "random_access": scheme.random_access,
        "dimensions": None if scheme.rank is None else {"min": scheme.rank[0], "max": scheme.rank[1]},
        "formula": scheme.summary,
        "description": doc[1].replace("\n", " ") if len(doc) > 1 else "",
        "parameters": [describe_param(p) for p in scheme.params],
        "example": example_body(scheme),
    }


def catalogue() -> list[dict[str, Any]]:
    return [describe(REGISTRY[name]) for name in sorted(REGISTRY)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    lines = [
        "# Schemes",
        "",
        "Generated from the registry (`python -m service.core.catalogue > docs/SCHEMES.md`); the same",
        "data is served by `GET /schemes`. Exact arithmetic: docs/ALGORITHM.md section 11.",
        "",
        "| scheme | aliases | random access | formula |",
        "|---|---|---|---|",
    ]
    for entry in catalogue():
        aliases = ", ".join(f"`{a}`" for a in entry["aliases"]) or "-"
        access = "yes" if entry["random_access"] else "no"
        name = entry["name"]
        lines.append(f"| [`{name}`](#{name}) | {aliases} | {access} | {_cell(entry['formula'])} |")
    for entry in catalogue():
        lines += ["", f"## {entry['name']}", "", entry["formula"], "", entry["description"], ""]
        if entry["dimensions"]:
            low, high = entry["dimensions"]["min"], entry["dimensions"]["max"]
            lines += [f"Tensors with {low}{'' if low == high else f' to {high}'} dimensions.", ""]
        if entry["parameters"]:
            lines += ["| parameter | type | default | allowed | meaning |", "|---|---|---|---|---|"]
            for p in entry["parameters"]:
                default = "required" if p["required"] else f"`{p['default']!r}`"
                lines.append(
                    f"| `{p['name']}` | {p['type']} | {default} | {_cell(p['allowed'])} | {_cell(p['description'])} |"
                )
        else:
            lines.append("No parameters.")
        lines += ["", f"Example (a POST /init body): `{json.dumps(entry['example'])}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
