"""Request fields written as text: GET /init's query string and the CLI's flags.

Both speak the one-tensor shorthand, whose fields are the table of ``TensorFields`` plus the
request's ``seed``, ``layout`` and ``dialect`` (service.spec.request): ``SHORTHAND`` is made from that table,
so a field added there is a query parameter and a flag here, typed as the JSON schema types it.
Scheme parameters are typed by the registry. What is not of its type is reported as (field path,
message), so both readers refuse the same text with the same words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..core import dialects
from ..core import schemes as _registered  # noqa: F401  (importing them registers every scheme)
from ..core.errors import InitError
from ..core.registry import get_scheme
from .request import InitRequest, TensorFields

__all__ = ["SHORTHAND", "Problems", "TextField", "body_from_text", "scheme_params", "single", "typed"]

Problems = list[tuple[str, str]]
Kind = Literal["int", "dims", "scheme", "str"]


@dataclass(frozen=True)
class TextField:
    """A shorthand field as text: its name, how its text is read, and what it means."""

    name: str
    kind: Kind
    description: str
    required: bool  # shape and scheme: without them the shorthand names no tensor
    choices: tuple[str, ...] = ()  # the values an enumerated field takes, first the default

    @property
    def help(self) -> str:
        """What the field means, as a query parameter's description or a flag's help."""
        if self.kind == "dims":
            return f"{self.description}: comma-separated, e.g. 256,784"
        if self.kind == "scheme":
            return "a scheme name or alias; its parameters come separately, typed by the registry"
        return f"{self.description} ({', '.join(self.choices)})" if self.choices else self.description

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _kind(schema: dict[str, Any]) -> Kind:
    """How a field's text is read, from its JSON schema (the non-null member of an optional)."""
    member = _member(schema)
    if "oneOf" in member:
        return "scheme"  # a name or a scheme object: as text, the name (its parameters come apart)
    kinds: dict[str, Kind] = {"integer": "int", "array": "dims"}
    return kinds.get(member.get("type", ""), "str")


def _member(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of a field's value: the non-null member of an optional."""
    members = [m for m in schema.get("anyOf", [schema]) if m.get("type") != "null"]
    return members[0] if len(members) == 1 else {}


def _description(schema: dict[str, Any]) -> str:
    """A field's description: its own, else its type's."""
    return str(schema.get("description") or _member(schema).get("description", ""))


def _choices(schema: dict[str, Any]) -> tuple[str, ...]:
    values = [str(v) for v in _member(schema).get("enum", [])]
    default = schema.get("default")
    return tuple(sorted(values, key=lambda value: value != default))


def _shorthand() -> tuple[TextField, ...]:
    schema = InitRequest.model_json_schema()["properties"]
    required = ("shape", "scheme")
    names = (
        *required,
        *(name for name in TensorFields.model_fields if name not in required),
        "seed",
        "layout",
        "dialect",
    )
    return tuple(
        TextField(name, _kind(schema[name]), _description(schema[name]), name in required, _choices(schema[name]))
        for name in names
    )


SHORTHAND = _shorthand()
_BY_NAME = {field.name: field for field in SHORTHAND}


# JSON's number grammar (RFC 8259 section 6): query text reads as the same JSON would. Python's
# int() and float() also take "1_0", "+1", " 1", "٣" and "infinity", which JSON does not.
_JSON_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def typed(text: str, kind: str) -> Any:
    """``text`` as a value of a registry kind, read as JSON reads it: bool (``true``/``false``),
    int (a JSON integer), float (a finite JSON number), axes (an integer, or integers separated by
    commas: a list), str; ValueError for anything else."""
    if kind == "axes":
        items = [typed(part.strip(), "int") for part in text.split(",")]
        return items[0] if len(items) == 1 and "," not in text else items
    if kind == "bool":
        if text not in ("true", "false"):
            raise ValueError(text)
        return text == "true"
    if kind == "int":
        if not _JSON_INT.fullmatch(text):
            raise ValueError(text)
        return int(text, 10)
    if kind == "float":
        if not _JSON_NUMBER.fullmatch(text):
            raise ValueError(text)
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return value
    return text


def _field_value(field: TextField, text: str, problems: Problems) -> Any:
    try:
        if field.kind == "dims":  # a JSON array's items, without the brackets: no empty item
            return [typed(d.strip(), "int") for d in text.split(",")]
        return typed(text, field.kind if field.kind == "int" else "str")
    except ValueError:
        what = "comma-separated integers" if field.kind == "dims" else "an integer"
        problems.append((field.name, f"must be {what}, got {text!r}"))
        return None


def scheme_params(
    scheme: str, texts: Mapping[str, str], problems: Problems, dialect: str | None = None
) -> dict[str, Any]:
    """The parameters of ``scheme`` (a name or alias, or a dialect word, qualified by ``dialect``)
    typed by the registry or the word; an unknown scheme's are kept as text, and its name is what
    validation reports."""
    word = dialects.lookup(dialects.qualify(scheme, dialect))
    try:
        kinds = {p.name: p.kind for p in (word.params if word else get_scheme(scheme).params)}
    except InitError:
        kinds = {}
    params: dict[str, Any] = {}
    for key, text in texts.items():
        kind = kinds.get(key, "str")
        try:
            params[key] = typed(text, kind)
        except ValueError:
            what = {"int": "an integer", "axes": "an axis or axes (integers, comma-separated)"}.get(kind, f"a {kind}")
            problems.append((f"scheme.{key}", f"must be {what}, got {text!r}"))
    return params


def body_from_text(
    fields: Mapping[str, str], params: Mapping[str, str], problems: Problems, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The POST /init body that shorthand ``fields`` (by name) and scheme ``params`` given as text
    describe, on top of ``body`` (the CLI's ``--body``); problems are appended to ``problems``."""
    body = dict(body or {})
    for name, text in fields.items():
        field = _BY_NAME[name]
        if field.kind == "scheme":
            body["scheme"] = text
            continue
        value = _field_value(field, text, problems)
        if value is not None:
            body[name] = value
    if params:
        scheme = body.get("scheme")
        if scheme is None:
            problems.append(("scheme", "scheme parameters need a scheme"))
            return body
        scheme = dict(scheme) if isinstance(scheme, dict) else {"name": scheme}
        dialect = body.get("dialect") if isinstance(body.get("dialect"), str) else None
        scheme.update(scheme_params(str(scheme.get("name")), params, problems, dialect))
        body["scheme"] = scheme
    return body


def single(pairs: Iterable[tuple[str, str]], known: Iterable[str]) -> tuple[dict[str, str], Problems]:
    """The pairs of a query string as a dict; a key given twice is a problem, not resolved (the
    first? the last? caches and proxies disagree). Keys outside ``known`` are scheme parameters."""
    pairs, known = list(pairs), set(known)
    seen: dict[str, int] = {}
    for key, _ in pairs:
        seen[key] = seen.get(key, 0) + 1
    problems = [(key if key in known else f"scheme.{key}", "given more than once") for key, n in seen.items() if n > 1]
    return dict(pairs), problems
