"""The one exception the core raises for requests it cannot honour.

    ValueError
     └── InitError          a parameter, shape or layout the core rejects

The HTTP layer maps an InitError to an RFC 9457 problem: `param` becomes the field path and
`allowed` says what would have been accepted.
"""

from __future__ import annotations

__all__ = ["InitError"]


class InitError(ValueError):
    """A bad request to the core, naming the parameter and what is allowed."""

    def __init__(self, message: str, *, param: str | None = None, allowed: str | None = None):
        super().__init__(message)
        self.param = param
        self.allowed = allowed

    def at(self, prefix: str) -> InitError:
        """The same error with its parameter path prefixed (``scheme`` -> ``tensors.0.scheme``)."""
        param = prefix if self.param is None else f"{prefix}.{self.param}"
        return InitError(str(self), param=param, allowed=self.allowed)
