"""The scheme catalogue as data and as Markdown, both read from the registry.

``describe`` is what ``GET /schemes`` returns and ``describe_word`` what ``GET /schemes?dialect=``
returns for each framework word; ``markdown`` renders docs/SCHEMES.md
(``python -m service.core.catalogue > docs/SCHEMES.md``) and ``dialects_markdown`` docs/DIALECTS.md
(``python -m service.core.catalogue dialects > docs/DIALECTS.md``); a test fails when either drifts.
"""

from __future__ import annotations

import json
from typing import Any

from . import dialects
from . import schemes as _schemes  # noqa: F401  (registers the catalogue)
from .registry import REGISTRY, Param, Scheme

__all__ = [
    "catalogue",
    "describe",
    "describe_param",
    "describe_word",
    "dialect_catalogue",
    "dialects_markdown",
    "example_body",
    "markdown",
]


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


def describe_word(word: dialects.Word) -> dict[str, Any]:
    """A framework's initializer: its spellings, its own parameters and defaults, and its initw meaning."""
    info: dict[str, Any] = {
        "name": word.qualified,
        "dialect": word.dialect,
        "aliases": list(word.spellings[1:]),
        "framework": word.peer,
        "meaning": word.meaning,
        "parameters": [describe_param(p) for p in word.params],
    }
    if word.unsupported:
        info["unsupported"] = word.unsupported
    return info


def dialect_catalogue(dialect: str) -> list[dict[str, Any]]:
    """Every word of ``dialect`` (initw: the registry's schemes)."""
    if dialect == "initw":
        return catalogue()
    return [describe_word(w) for w in dialects.by_dialect(dialect)]


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


_FRAMEWORKS = {
    "torch": "PyTorch (`torch.nn.init`)",
    "keras": "Keras 3 (`keras.initializers`)",
    "jax": "JAX (`jax.nn.initializers`)",
    "flax": "Flax (`flax.linen.initializers`: JAX's, plus two)",
}


def dialects_markdown() -> str:
    """docs/DIALECTS.md: every framework word, its parameters with the framework's defaults, its meaning."""
    lines = [
        "# Dialects",
        "",
        "Generated from service/core/dialects.py (`python -m service.core.catalogue dialects > docs/DIALECTS.md`);",
        "the same data is served by `GET /schemes?dialect=keras` (or torch, jax, flax). A word is written",
        'qualified (`keras.HeNormal`) or unqualified under a request\'s `"dialect"`, and means what it means in',
        "that framework: its defaults, its parameters, its fan rule (Keras and JAX read `[*k, in, out]`,",
        "PyTorch `[out, in, *k]`, whatever the request's layout). It translates into the initw scheme named in",
        "'meaning', with every parameter explicit: the file's canonical request shows that scheme, and its bytes",
        "are those of the equivalent initw request.",
    ]
    for dialect in dialects.PREFIXES:
        lines += ["", f"## {dialect}: {_FRAMEWORKS[dialect]}", "", "| name | also | parameters (defaults) | meaning |",
                  "|---|---|---|---|"]  # fmt: skip
        for word in dialects.by_dialect(dialect):
            params = ", ".join(
                f"`{p.name}`" + ("" if p.required else f" = `{json.dumps(p.default)}`") for p in word.params
            )
            also = ", ".join(f"`{a}`" for a in word.spellings[1:]) or "-"
            meaning = f"refused: {word.unsupported}" if word.unsupported else word.meaning
            lines.append(f"| `{word.qualified}` | {also} | {params or '-'} | {_cell(meaning)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    print(dialects_markdown() if sys.argv[1:] == ["dialects"] else markdown(), end="")
