"""The architecture presets as data and as Markdown, read from their pydantic models.

``catalogue`` is what ``GET /presets`` returns and ``describe`` what ``GET /presets/{name}`` returns:
each preset's title and rule (the model's docstring), every field with its type, default or
"required", allowed range and meaning (the fields' descriptions), and an example body that
``POST /init`` accepts (the model's example). ``markdown`` renders docs/PRESETS.md
(``python -m service.spec.presets > docs/PRESETS.md``); a test fails when it drifts.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from pydantic import BaseModel

from .architectures import WITHDRAWN_MUP, ArchitectureSpec, WithdrawnMupMlp

__all__ = ["MODELS", "WITHDRAWN", "catalogue", "describe", "describe_field", "example_body", "markdown"]

# Withdrawn presets: still listed (a request naming one is refused, saying why), with what replaces them.
WITHDRAWN: dict[type[BaseModel], tuple[str, str]] = {WithdrawnMupMlp: (WITHDRAWN_MUP, "mup_mlp_v2")}


def _name(model: type[BaseModel]) -> str:
    (name,) = get_args(model.model_fields["preset"].annotation)
    return str(name)


# Every member of the request's union, by its wire name: a preset added there is documented here.
MODELS: dict[str, type[BaseModel]] = {_name(model): model for model in get_args(get_args(ArchitectureSpec)[0])}


def _bound(value: float) -> str:
    return (
        f"2^{value.bit_length() - 1}"
        if isinstance(value, int) and value > 1024 and value & (value - 1) == 0
        else f"{value:g}"
    )


def _allowed(schema: dict[str, Any]) -> str:
    """What a field's JSON schema accepts, in words."""
    kind = schema.get("type")
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        items = _allowed(schema["items"])
        low, high = schema.get("minItems"), schema.get("maxItems")
        count = (
            f"{low} to {high}"
            if low is not None and high is not None
            else f"at least {low}"
            if low
            else "any number of"
        )
        return f"a list of {count} items, each {items}"
    parts = [
        f"{word} {_bound(schema[key])}"
        for key, word in (("exclusiveMinimum", ">"), ("minimum", ">="), ("exclusiveMaximum", "<"), ("maximum", "<="))
        if key in schema
    ]
    noun = "an integer" if kind == "integer" else "a finite number"
    return noun + (" " + " and ".join(parts) if parts else "")


def _type(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "")
    return (
        f"list[{_type(schema['items'])}]"
        if kind == "array"
        else {"integer": "int", "number": "float", "boolean": "bool"}[kind]
    )


def describe_field(name: str, schema: dict[str, Any], required: bool) -> dict[str, Any]:
    info: dict[str, Any] = {"name": name, "type": _type(schema), "required": required}
    if not required:
        info["default"] = schema["default"]
    for key, out in (
        ("minimum", "minimum"),
        ("maximum", "maximum"),
        ("exclusiveMinimum", "exclusive_minimum"),
        ("exclusiveMaximum", "exclusive_maximum"),
        ("minItems", "min_items"),
        ("maxItems", "max_items"),
    ):
        if key in schema:
            info[out] = schema[key]
    if "items" in schema:
        info["items"] = {k: v for k, v in schema["items"].items() if k in ("minimum", "maximum")}
    info["allowed"] = _allowed(schema)
    info["description"] = schema.get("description", "")
    return info


def example_body(model: type[BaseModel]) -> dict[str, Any] | None:
    """The model's example as a POST /init body, or None for a withdrawn preset."""
    extra = model.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    return {"seed": 0, "model": examples[0]} if isinstance(examples, list) and examples else None


def describe(name: str) -> dict[str, Any]:
    """One preset: name, status, title, rule, fields, example body, its docs page (KeyError if there is none)."""
    model = MODELS[name]
    schema = model.model_json_schema()
    title, _, rule = (model.__doc__ or "").strip().partition("\n\n")
    entry: dict[str, Any] = {"name": name, "status": "active", "title": title, "description": " ".join(rule.split())}
    if model in WITHDRAWN:
        reason, replacement = WITHDRAWN[model]
        entry.update(status="withdrawn", title=f"withdrawn: use {replacement}", description=reason)
        entry["replaced_by"] = replacement
    required = set(schema.get("required", ()))
    entry["fields"] = [
        describe_field(field, spec, field in required)
        for field, spec in schema["properties"].items()
        if field != "preset"
    ]
    entry["example"] = example_body(model)
    entry["documentation"] = f"docs/PRESETS.md#{name}"
    return entry


def catalogue() -> list[dict[str, Any]]:
    """Every preset, the active ones first (in the request's order), then the withdrawn ones."""
    return sorted((describe(name) for name in MODELS), key=lambda e: e["status"] != "active")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    lines = [
        "# Presets",
        "",
        "Generated from the preset models of service/spec/architectures.py",
        "(`python -m service.spec.presets > docs/PRESETS.md`); the same data is served by `GET /presets`",
        "and `GET /presets/{name}`. A preset is a whole named state dict, asked for as",
        '`{"seed": 0, "model": {"preset": "gpt2", ...}}` in `POST /init` (and wherever an init request is',
        "taken); a missing or invalid field is refused with a 422 that names the field and this page.",
        "Weights are [out, in] (torch layout) and named like PyTorch state dicts.",
        "",
        "| preset | status | what |",
        "|---|---|---|",
    ]
    entries = catalogue()
    for entry in entries:
        name = entry["name"]
        lines.append(f"| [`{name}`](#{name}) | {entry['status']} | {_cell(entry['title'])} |")
    for entry in entries:
        lines += ["", f"## {entry['name']}", "", entry["title"], "", entry["description"], ""]
        if entry["status"] == "withdrawn":
            lines.append(f"Refused with a 422 saying why; use [`{entry['replaced_by']}`](#{entry['replaced_by']}).")
            continue
        lines += ["| field | type | default | allowed | meaning |", "|---|---|---|---|---|"]
        for f in entry["fields"]:
            default = "required" if f["required"] else f"`{json.dumps(f['default'])}`"
            lines.append(
                f"| `{f['name']}` | {f['type']} | {default} | {_cell(f['allowed'])} | {_cell(f['description'])} |"
            )
        lines += ["", f"Example (a POST /init body): `{json.dumps(entry['example'])}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
