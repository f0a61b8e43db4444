"""Pure-ASGI guards in front of the app: request bodies must be JSON, not too large and not too
slow to arrive; HEAD responses carry no body.

Starlette's own limit answers 413 in text/plain before any handler runs; this one answers with
problem+json, checks Content-Length up front and counts chunked bodies as they arrive (an
exception raised from inside the app's body reading would surface as a 400).

The body is parsed here, once: an object that names a key twice is refused (422, naming where),
so is a body of more than MAX_OBJECTS objects or MAX_VALUES values (413, counted before anything
is built). A large body is parsed in a worker thread, one at a time, in steps that each hold the
interpreter briefly (core.json_scan), so the event loop keeps answering. The routes read the
parsed body, or the parser's error, from the scope (routes.common.ParsedBodyRoute) instead of
parsing it again; they answer text that is not JSON as malformed.
"""

from __future__ import annotations

import anyio
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .core import json_scan, unique_json
from .handlers import problem
from .spec.errors import field_error

__all__ = [
    "LARGE",
    "MAX_DEPTH",
    "MAX_OBJECTS",
    "MAX_VALUES",
    "PARSED",
    "PARSED_ON_THE_LOOP",
    "BodyGuard",
    "HeadWithoutBody",
]

PARSED = "initw.json"  # scope key: the request body parsed by BodyGuard, or the exception that refused it
LARGE = "initw.large-body"  # scope key: true when the body was parsed off the event loop (validate it there too)
# A request names at most 4096 tensors and 4096 layers with a scheme object or two each: ~25,000
# objects and ~170,000 values (members and items). More is not a request, and would only make the
# validation behind it (which holds the interpreter: ~1.2 us per object) work for nothing.
MAX_OBJECTS = 1 << 15
MAX_VALUES = 1 << 18
# No request nests more than a few levels. Past this, 400 as json's own recursion limit answers,
# but at a depth fixed here: that limit counts the caller's stack and sys.getrecursionlimit(),
# so the same body could be served or refused depending on where and when it was parsed.
MAX_DEPTH = 256
PARSED_ON_THE_LOOP = 1 << 16  # bytes: a larger body is parsed in a worker thread (~1 ms per 64 KiB)


def _routed(scope: Scope) -> bool:
    """Whether a route takes this method at this path; if none does, the router's 404 or 405 (with
    Allow) comes first: no body of a request that cannot be served is read or judged."""
    router = getattr(scope.get("app"), "router", None)
    return router is None or any(route.matches(scope)[0] is Match.FULL for route in router.routes)


class BodyGuard:
    def __init__(self, app: ASGIApp, max_bytes: int, seconds: float = 30.0):
        self.app, self.max_bytes, self.seconds = app, max_bytes, seconds
        self._parsing = anyio.Semaphore(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH") or not _routed(scope):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            got = f"got {media!r}" if media else "no Content-Type was sent"
            response = problem(415, f"send the body as application/json ({got})", kind="unsupported-media-type")
            await response(scope, receive, send)
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        # Read the body whole, counting, then replay it. A body that trickles in (or stops short of
        # its Content-Length) would hold a connection forever. It is appended as it comes (a
        # bytearray grows in place): joining 60 MB of chunks at the end would be one copy that
        # holds the interpreter, and the event loop with it, for tens of milliseconds.
        buffer = bytearray()
        with anyio.move_on_after(self.seconds) as reading:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                buffer += message.get("body", b"")
                if len(buffer) > self.max_bytes:
                    await self._too_large(scope, receive, send)
                    return
                if not message.get("more_body", False):
                    break
        if reading.cancelled_caught:
            detail = (
                f"the request body did not arrive within {self.seconds:g} s ({len(buffer):,} bytes came; "
                f"INITW_BODY_SECONDS): send it whole, at once"
            )
            await problem(408, detail, kind="body-timeout", headers={"Connection": "close"})(scope, receive, send)
            return
        # A large body stays a bytearray (core.json_scan reads it in place) and is parsed off the loop.
        large = len(buffer) > PARSED_ON_THE_LOOP
        body: bytes | bytearray = buffer if large else bytes(buffer)
        if body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in body[:4]:
            # json.loads would guess UTF-16 or UTF-32 from a BOM or NUL bytes; JSON is UTF-8 (RFC 8259).
            detail = "the body is not valid JSON: a UTF-16/UTF-32 byte order mark or NUL bytes; send UTF-8 (RFC 8259)"
            await problem(400, detail, kind="malformed-json")(scope, receive, send)
            return
        try:
            if not large:
                scope[PARSED] = unique_json.loads(body, MAX_OBJECTS, MAX_VALUES, MAX_DEPTH)
            else:
                scope[LARGE] = True
                async with self._parsing:  # one large parse at a time: the loop shares the interpreter with one
                    scope[PARSED] = await anyio.to_thread.run_sync(
                        unique_json.loads, body, MAX_OBJECTS, MAX_VALUES, MAX_DEPTH
                    )
        except unique_json.DuplicateKey as duplicate:
            why = "is given twice in one object: a reader could take either value; send it once"
            errors = [field_error(duplicate.dotted, why, "each key once per object")]
            detail = f"{duplicate.dotted}: {why}"
            await problem(422, detail, kind="invalid-request", errors=errors)(scope, receive, send)
            return
        except (json_scan.TooMany, json_scan.TooDense) as refused:
            detail = f"the request body holds {refused}; no request needs that many"
            await problem(413, detail, kind="body-too-large")(scope, receive, send)
            return
        except (ValueError, RecursionError) as malformed:
            scope[PARSED] = malformed  # not JSON: the route answers it as malformed, as for any body
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is larger than {self.max_bytes} bytes (INITW_MAX_BODY_BYTES)"
        await problem(413, detail, kind="body-too-large")(scope, receive, send)


class HeadWithoutBody:
    """HEAD answers with GET's status and headers (Content-Length included) and an empty body."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def no_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, no_body)
