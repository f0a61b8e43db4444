"""HTTP routes: thin shells over the core."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter


def get(router: APIRouter, path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a GET route and the same endpoint for HEAD (RFC 9110 9.3.2; the HEAD variant stays
    out of the OpenAPI document, and middleware.HeadWithoutBody drops its body)."""

    def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(path, endpoint, methods=["GET"], **options)
        head = {k: v for k, v in options.items() if k in ("response_class", "dependencies")}
        router.add_api_route(
            path, endpoint, methods=["HEAD"], include_in_schema=False, name=f"{endpoint.__name__}_head", **head
        )
        return endpoint

    return register
