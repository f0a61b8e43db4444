"""Invalid fields, as the service reports them: the dotted path, its JSON pointer, what went wrong
and what the field allows. Web-free, so the CLI's ``--local`` mode reports exactly what a 422
problem would (service.problems wraps these in RFC 9457 documents)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["FieldError", "PRESETS_HELP", "field_error", "preset_help", "validation_errors"]


class FieldError(BaseModel):
    """One invalid field."""

    field: str = Field(description="dotted path in the request, e.g. tensors.0.scheme.std")
    pointer: str = Field(description="the same path as a JSON pointer, e.g. /tensors/0/scheme/std")
    message: str
    allowed: str | None = Field(None, description="what the field accepts")


PRESETS_HELP = "GET /presets or docs/PRESETS.md lists the presets and their fields"


def preset_help(name: str) -> str:
    """Where a preset's fields are documented, as an invalid field's message points to it."""
    return f"see GET /presets/{name} or docs/PRESETS.md#{name}"


def field_error(path: str, message: str, allowed: str | None = None) -> FieldError:
    pointer = "/" + path.replace(".", "/") if path and path != "body" else ""
    return FieldError(field=path or "body", pointer=pointer, message=message, allowed=allowed)


def _path(loc: tuple[Any, ...], body: Any) -> str:
    """Dotted path of a pydantic error location, without 'body'/'query' and union tags.

    A union puts the tag of the member that failed (a scheme or layer name, "int" or "list[int]"
    for ``3`` vs ``[3, 3]``) into the location; it is not a field of the request, so walking the
    body tells it apart: only objects have named fields.
    """
    parts: list[str] = []
    node = body
    for item in loc:
        if item in ("body", "query") and not parts:
            continue
        if isinstance(item, str) and node is not None and not isinstance(node, dict):
            continue  # a union member's tag under a list or a scalar ("int", "list[int]"): no field
        if isinstance(node, dict) and isinstance(item, str) and item not in node:
            if item in (node.get("name"), node.get("type"), node.get("preset")) or "[" in item:
                continue
            if item.partition(".")[2] == node.get("name"):  # a word qualified by the request's dialect
                continue
        parts.append(str(item))
        if isinstance(node, dict):
            node = node.get(item)
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            node = node[item]
        else:
            node = None
    return ".".join(parts)


def _allowed(error: dict[str, Any]) -> str | None:
    ctx = error.get("ctx") or {}
    if "expected_tags" in ctx:
        return f"one of {ctx['expected_tags']}"
    if "expected" in ctx:
        return f"one of {ctx['expected']}"
    for key, text in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if key in ctx:
            return f"{text} {ctx[key]}"
    if "pattern" in ctx:
        return f"matching {ctx['pattern']}"
    if "max_length" in ctx:
        return f"at most {ctx['max_length']} items"
    return None


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "union_tag_invalid":
        return f"unknown name {error['ctx'].get('tag')!r}"
    if error["type"] == "union_tag_not_found":
        return f"no {error['ctx'].get('discriminator', 'name')}: name one"
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return error["msg"].removeprefix("Value error, ")


def _preset_help(loc: tuple[Any, ...], body: Any) -> str | None:
    """Where the documentation of the architecture an error is in lives: an error inside the body's
    ``model`` (its location carries the preset's name as the union's tag) points to its preset's
    page, an error on ``model`` itself (no preset, or an unknown one) to the list."""
    loc = loc[1:] if loc[:1] in (("body",), ("query",)) else loc
    if not loc or loc[0] != "model" or not isinstance(body, dict) or not isinstance(body.get("model"), dict):
        return None
    preset = body["model"].get("preset")
    if len(loc) >= 2 and isinstance(preset, str) and loc[1] == preset:
        return preset_help(preset)
    return PRESETS_HELP if len(loc) == 1 else None


def _with_help(error: dict[str, Any], body: Any) -> str:
    message, extra = _message(error), _preset_help(tuple(error["loc"]), body)
    return f"{message}; {extra}" if extra else message


def validation_errors(errors: Any, body: Any) -> list[FieldError]:
    return [field_error(_path(tuple(e["loc"]), body), _with_help(e, body), _allowed(e)) for e in errors]
