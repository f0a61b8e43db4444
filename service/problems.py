"""RFC 9457 problem details for every error: status, a title, what went wrong, and for invalid
input the field path and what it allows. Nothing leaves the service as a bare 500 or text/plain.

This module is web-free (the CLI raises and reads the same errors); service.handlers turns them,
and every other exception, into application/problem+json answers."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, Field

from .spec.errors import FieldError

__all__ = ["PROBLEM", "Problem", "ProblemError", "problem_body"]

PROBLEM = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem."""

    type: str = Field("about:blank", description="a URI naming the kind of problem")
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise to answer with a problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status, self.detail, self.kind = status, detail, kind
        self.errors, self.headers = errors, headers or {}


def problem_body(
    status: int,
    detail: str,
    instance: str | None = None,
    *,
    kind: str | None = None,
    errors: list[FieldError] | None = None,
) -> dict[str, Any]:
    """The JSON object of a problem (``kind`` names its type URI)."""
    body = Problem(
        type=f"https://initw.dev/problems/{kind}" if kind else "about:blank",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        errors=errors,
    )
    return body.model_dump(exclude_none=True)
