"""The OpenAPI document, exact: ``python -m service openapi > openapi.json`` (a test fails on drift).

FastAPI passes component schemas through a model that turns integer bounds into floats (the seed's
2^64 - 1 would become 1.8446744073709552e19, i.e. 2^64), and it documents a default 422 body the
service never sends. Component schemas are therefore taken from pydantic directly, and every error
response is documented as application/problem+json.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

from .problems import PROBLEM, Problem
from .routes import ROUTERS
from .spec.errors import FieldError

__all__ = ["build", "install", "text"]

_REF = "#/components/schemas/{model}"


def _bodies() -> list[type[BaseModel]]:
    """The request body model of every route, in the order of ROUTERS, each once."""
    models: list[type[BaseModel]] = []
    for router in ROUTERS:
        for route in router.routes:
            body = route.body_field.field_info.annotation if isinstance(route, APIRoute) and route.body_field else None
            if isinstance(body, type) and issubclass(body, BaseModel) and body not in models:
                models.append(body)
    return models


def _exact_components() -> dict[str, Any]:
    components: dict[str, Any] = {}
    models: list[type[BaseModel]] = [*_bodies(), Problem, FieldError]
    for model in models:
        schema = model.model_json_schema(ref_template=_REF)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    return components


def _as_text(parameter: dict[str, Any]) -> None:
    """A parameter is text or absent: FastAPI's ``anyOf [..., null]`` of an optional one loses its
    null member (null has no text form; an absent parameter is the default), and an array in the
    query is comma-separated (``shape=256,784``: form style, not exploded), as the service reads it."""
    schema = parameter["schema"]
    members = schema.get("anyOf", [])
    if any(member.get("type") == "null" for member in members):
        (member,) = [member for member in members if member.get("type") != "null"]
        del schema["anyOf"]
        parameter["schema"] = schema = {**member, **schema}
    if parameter["in"] == "query" and schema.get("type") == "array":
        parameter["style"], parameter["explode"] = "form", False


def build(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes, openapi_version="3.1.0"
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    components.update(_exact_components())
    problem = {"schema": {"$ref": _REF.format(model="Problem")}}
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                _as_text(parameter)
            responses = operation["responses"]
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    response["content"] = {PROBLEM: problem}
                    if code == "422":
                        response["description"] = "Invalid request: the problem lists each field and what it allows"
    return schema


def install(app: FastAPI) -> None:
    """Serve the exact document at /openapi.json."""
    cached: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not cached:
            cached.update(build(app))
        return cached

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to replace it


def text(app: FastAPI) -> str:
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"
