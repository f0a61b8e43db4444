"""Work that stops when nobody waits for it any more: a token, checked between chunks.

The HTTP layer gives each request a ``Token`` (service.admission) and cancels it when the client
goes away; the token also carries the request's deadline. The core never learns about HTTP: its
loops call ``checkpoint()`` between chunks (the thread pool before each part, the streaming and
hashing passes before each piece, the diagnostics before each block, the analyses before each
layer or iteration), which raises ``Cancelled`` once the token says stop. So abandoned work ends
within one chunk, tens of milliseconds, and whoever holds its memory can give it back.

The token travels in a context variable: the request's task sets it, worker threads started with
the context (anyio's, Starlette's) see it, and ``parallel.each`` hands it to its pool's threads.
Code that runs without a token (the CLI, scripts, background jobs) is never cancelled.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["Cancelled", "Token", "checkpoint", "current", "running"]


class Cancelled(Exception):
    """The work was stopped before it finished; ``reason`` says why (client gone, deadline)."""

    def __init__(self, reason: str, deadline: bool):
        super().__init__(reason)
        self.reason, self.deadline = reason, deadline


class Token:
    """Whether a piece of work should go on: until ``cancel`` is called or ``deadline`` (a
    time.monotonic() value) passes."""

    def __init__(self, deadline: float | None = None, seconds: float | None = None):
        self.deadline, self.seconds = deadline, seconds
        self._reason: str | None = None

    def cancel(self, reason: str) -> None:
        if self._reason is None:
            self._reason = reason

    @property
    def cancelled(self) -> bool:
        return self.reason is not None

    @property
    def reason(self) -> str | None:
        """Why the work should stop (the client left, the request ended, the deadline), or None."""
        if self._reason is not None:
            return self._reason
        return f"the work passed its deadline of {self.seconds:g} s" if self._late() else None

    def _late(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def check(self) -> None:
        """Raise Cancelled if the work should stop."""
        reason = self.reason
        if reason is not None:
            raise Cancelled(reason, deadline=self._reason is None)


_CURRENT: ContextVar[Token | None] = ContextVar("initw_cancel_token", default=None)


def current() -> Token | None:
    """The token of the work running in this context, if any."""
    return _CURRENT.get()


def checkpoint() -> None:
    """Raise Cancelled if the current work should stop (cheap: one context lookup)."""
    token = _CURRENT.get()
    if token is not None:
        token.check()


@contextlib.contextmanager
def running(token: Token | None) -> Iterator[None]:
    """Make ``token`` the current one for the block (and the threads started with its context)."""
    reset = _CURRENT.set(token)
    try:
        yield
    finally:
        _CURRENT.reset(reset)
