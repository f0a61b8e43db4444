"""What every route module shares: GET routes that answer HEAD too, the app-wide dependencies
(settings, the remembered files, the request's memory reservation) and documented error answers."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from ..admission import SCOPE_KEY, Reservation, WouldWait
from ..middleware import LARGE, PARSED
from ..representation import Remembered
from ..settings import Settings

__all__ = [
    "ParsedBodyRoute",
    "accept_header",
    "RememberedDep",
    "ReservationDep",
    "SettingsDep",
    "get",
    "offload",
    "problem_responses",
    "reservation_of",
]


class _ParsedRequest(Request):
    async def body(self) -> bytes:
        if PARSED in self.scope and not hasattr(self, "_body"):
            # BodyGuard replays the whole body in one message; Starlette would copy it into new
            # bytes (a copy of up to 64 MB that holds the event loop). The routes only look at it
            # to see that there is one, then take the parse.
            message = await self._receive()
            self._body = message.get("body", b"")
        return await super().body()

    async def json(self) -> Any:
        if PARSED not in self.scope:
            return await super().json()
        parsed = self.scope[PARSED]
        if isinstance(parsed, (ValueError, RecursionError)):
            raise parsed  # what json.loads raised: FastAPI answers it as it would have
        return parsed


class ParsedBodyRoute(APIRoute):
    """A route that takes the JSON body middleware.BodyGuard parsed (duplicate keys refused, large
    bodies off the event loop) instead of parsing it a second time. A large body is validated off
    the loop too (pydantic holds the interpreter while it validates: ~1 us per value), and FastAPI
    then meets the validated model, which it takes as it is. Every router uses it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        field = self.body_field if len(self.dependant.body_params) == 1 and not self._embed_body_fields else None

        async def parsed(request: Request) -> Response:
            if field is not None and request.scope.get(LARGE) and isinstance(request.scope.get(PARSED), dict):
                value, errors = await run_in_threadpool(field.validate, request.scope[PARSED], {}, loc=("body",))
                if errors:
                    raise RequestValidationError(errors, body=request.scope[PARSED])
                request.scope[PARSED] = value
            return await handler(_ParsedRequest(request.scope, request.receive))

        return parsed


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


# Dependencies are async: no thread-pool hop for a lookup.
async def settings_of(request: Request) -> Settings:
    return request.app.state.settings


async def remembered_of(request: Request) -> Remembered:
    return request.app.state.remembered


def reservation_of(request: Request) -> Reservation:
    """The request's share of the memory budget (service.admission)."""
    return request.scope[SCOPE_KEY]


async def _reservation(request: Request) -> Reservation:
    return reservation_of(request)


SettingsDep = Annotated[Settings, Depends(settings_of)]
RememberedDep = Annotated[Remembered, Depends(remembered_of)]
ReservationDep = Annotated[Reservation, Depends(_reservation)]


T = TypeVar("T")


async def offload(work: Callable[[], T], reservation: Reservation, inline: bool) -> T:
    """``work()`` in a worker thread, or on the event loop when ``inline`` (work of a millisecond
    or two, for which the thread hop would cost about as much as the work). Inline work never
    blocks the loop: where its memory reservation would wait, it is left and redone in a thread
    (nothing is generated before the reservation, so redoing it is safe)."""
    if inline:
        reservation.waits = False
        try:
            return work()
        except WouldWait:
            pass
        finally:
            reservation.waits = True
    return await run_in_threadpool(work)


def accept_header(*offered: str) -> Any:
    """The Accept header of an endpoint that sends ``offered`` (the first is the default): its
    schema lists what a client may ask for, each of them, ``*/*`` or nothing (the default), so
    that clients (and generated requests) ask for something it serves. Other media ranges
    (``application/*``, q-values) are negotiated as RFC 9110 says (service.representation.negotiate);
    what none of them matches is a 406."""
    return Header(
        description=f"the representation: {' or '.join(offered)} (default {offered[0]}); anything else is a 406",
        json_schema_extra={"enum": [*offered, "*/*", ""]},  # empty: no preference (RFC 9110 12.5.1)
    )


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Error responses for the OpenAPI document (service.openapi sets their problem+json schema)."""
    return {code: {"description": _WHY.get(code, HTTPStatus(code).phrase)} for code in codes}


_WHY = {
    408: "Request Timeout: the body did not arrive within INITW_BODY_SECONDS",
    503: "Service Unavailable: no room in the memory budget (or job queue) after a wait, retry after Retry-After; "
    "or the work passed INITW_REQUEST_SECONDS (deadline-exceeded)",
}
