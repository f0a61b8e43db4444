"""Backpressure: one memory budget shared by the requests of a worker process.

Before generating anything, a request reserves the memory it will hold at most (an upper bound
from ``service.core.artifact.working_bytes`` and its kin). When the budget has no room, it waits
up to ``queue_seconds`` and is then refused with 503 and ``Retry-After``: the process sheds load
instead of running out of memory. A request larger than the whole budget waits until it is
alone, so every request the element caps allow can still be served.

Reservations belong to the request, not to the code that made them: the ASGI middleware gives
them back when the response has been sent, or the client went away, or the handler failed, so no
path can leak one. Waiting happens in a worker thread: a small request computed on the event loop
(``routes.common.offload``) reserves without waiting, and goes to a thread when it would wait.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .core import cancel
from .problems import ProblemError

__all__ = ["Admission", "MIB", "MemoryBudget", "Reservation", "SCOPE_KEY", "Stalled", "WouldWait", "log"]

log = logging.getLogger("initw")

SCOPE_KEY = "initw.reservation"
MIB = 1 << 20


class WouldWait(Exception):
    """A reservation made without waiting found no room (nothing was reserved)."""


class MemoryBudget:
    """``total`` bytes, reserved and given back by requests; thread-safe."""

    def __init__(self, total: int, wait_seconds: float):
        self.total, self.wait_seconds = total, wait_seconds
        self.in_use = 0
        self.peak = 0  # most bytes reserved at once since start (for /readyz and the tests)
        self.refused = 0
        self._room = threading.Condition()

    def reserve(self, nbytes: int, what: str, wait: bool = True) -> int:
        """Take ``nbytes`` (at most the whole budget) or raise a 503 problem after waiting
        (``wait`` False: raise WouldWait at once instead of waiting)."""
        nbytes = min(max(nbytes, 0), self.total)
        deadline = time.monotonic() + self.wait_seconds
        with self._room:
            if not wait and self.in_use + nbytes > self.total:
                raise WouldWait
            while self.in_use + nbytes > self.total:
                left = deadline - time.monotonic()
                if left <= 0 or not self._room.wait(left):
                    if self.in_use + nbytes <= self.total:
                        break  # room appeared as the wait timed out
                    self.refused += 1
                    raise self._busy(nbytes, what)
            self.in_use += nbytes
            self.peak = max(self.peak, self.in_use)
        return nbytes

    def give_back(self, nbytes: int) -> None:
        with self._room:
            self.in_use -= nbytes
            self._room.notify_all()

    def retry_after(self) -> int:
        """Seconds a refused client should wait: about one queue wait, at least a second."""
        return max(1, math.ceil(self.wait_seconds))

    def _busy(self, nbytes: int, what: str) -> ProblemError:
        seconds = self.retry_after()
        return ProblemError(
            503,
            f"the service is busy: {what} needs about {nbytes / MIB:,.0f} MiB of this process's "
            f"{self.total / MIB:,.0f} MiB memory budget (INITW_MEMORY_BUDGET_BYTES) and "
            f"{self.in_use / MIB:,.0f} MiB stayed reserved for {self.wait_seconds:g} s; retry after {seconds} s",
            kind="busy",
            headers={"Retry-After": str(seconds)},
        )


class Reservation:
    """What one request reserved; given back whole by ``Admission`` when the request ends."""

    def __init__(self, budget: MemoryBudget):
        self.budget, self.nbytes = budget, 0
        self.waits = True  # False while the request computes on the event loop, which must never block
        self._lock = threading.Lock()

    def reserve(self, nbytes: int, what: str) -> None:
        taken = self.budget.reserve(nbytes, what, wait=self.waits)
        with self._lock:
            self.nbytes += taken

    def release(self) -> None:
        with self._lock:
            taken, self.nbytes = self.nbytes, 0
        if taken:
            self.budget.give_back(taken)


class Stalled(Exception):
    """The client read nothing for ``send_seconds``."""


class Admission:
    """Pure-ASGI middleware: a fresh ``Reservation`` and cancellation ``Token`` per HTTP request;
    the reservation is released when the request ends, the token cancelled when its client goes.

    A client that stops reading would hold its reservation as long as it keeps the connection
    open (the server's send waits for the socket to drain): a send that waits ``send_seconds``
    abandons the response, which closes the connection and ends the request. A client that goes
    away while its answer is being computed is noticed at once (a task listens for the
    disconnect) and cancels the token: the computation stops at its next chunk (service.core.cancel)
    and the request ends, giving its memory back. The token also stops work after ``work_seconds``.
    """

    def __init__(self, app: ASGIApp, budget: MemoryBudget, send_seconds: float = 60.0, work_seconds: float = 600.0):
        self.app, self.budget, self.send_seconds, self.work_seconds = app, budget, send_seconds, work_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reservation = Reservation(self.budget)
        scope[SCOPE_KEY] = reservation
        token = cancel.Token(time.monotonic() + self.work_seconds, self.work_seconds)
        inbox: asyncio.Queue[Message] = asyncio.Queue()

        async def listen() -> None:
            # Every message the server has for this request passes through here to the app, so a
            # disconnect is seen the moment it happens, not when the app next reads.
            while True:
                message = await receive()
                inbox.put_nowait(message)
                if message["type"] == "http.disconnect":
                    token.cancel("the client went away")
                    return

        async def send_or_give_up(message: Message) -> None:
            with anyio.move_on_after(self.send_seconds) as sending:
                await send(message)
            if sending.cancelled_caught:
                raise Stalled

        listener = asyncio.ensure_future(listen())
        try:
            with cancel.running(token):
                await self.app(scope, inbox.get, send_or_give_up)
        except Stalled:
            log.warning("%s %s: the client read nothing for %g s; response abandoned",
                        scope["method"], scope["path"], self.send_seconds)  # fmt: skip
        except Exception:
            # Work stopped by the token once the answer had started (a problem answer is only
            # possible before): the expected end of a streamed answer, not a fault to trace back.
            if token.reason is None:
                raise
            log.info("%s %s: %s; the answer was cut", scope["method"], scope["path"], token.reason)
        finally:
            listener.cancel()
            token.cancel("the request ended")  # anything still running for it stops
            reservation.release()
