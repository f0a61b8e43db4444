"""POST /init and GET|HEAD /init: the file of a request, whole, in byte ranges or as shards."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ..problems import ProblemError
from ..representation import BINARY, JSON, etag, matches, negotiate
from ..spec import text
from ..spec.errors import field_error, validation_errors
from ..spec.request import InitRequest
from .artifact import ARTIFACT_RESPONSES, SafetensorsResponse, checked, headers_of, light, respond, small, warned
from .common import (
    ParsedBodyRoute,
    RememberedDep,
    ReservationDep,
    SettingsDep,
    accept_header,
    get,
    offload,
    problem_responses,
)
from .partial import INDEX, SHARD, byte_ranges, index, shard

__all__ = ["router"]

router = APIRouter(tags=["weights"], route_class=ParsedBodyRoute)


@router.post(
    "/init",
    summary="Initialize tensors: a safetensors file (default) or its JSON description",
    response_class=SafetensorsResponse,
    responses={**ARTIFACT_RESPONSES, **problem_responses(408, 412)},
)
async def post_init(
    body: InitRequest,
    settings: SettingsDep,
    memory: RememberedDep,
    reservation: ReservationDep,
    accept: Annotated[str | None, accept_header(BINARY, JSON)] = None,
    if_none_match: Annotated[str | None, Header()] = None,
    tensor: Annotated[str | None, Query(description=SHARD["tensor"])] = None,
    start: Annotated[str | None, Query(description=SHARD["start"], pattern=INDEX)] = None,
    stop: Annotated[str | None, Query(description=SHARD["stop"], pattern=INDEX)] = None,
) -> Response:
    """Generate every tensor of the body from its seed. The same body gives the same bytes,
    header included, in any process on any machine; its ETag is derived from the canonical request.
    With ``?tensor=&start=&stop=`` the answer is a shard: raw little-endian elements of one tensor."""
    media = negotiate(accept)
    request = await offload(lambda: checked(body, settings.max_elements, "POST /init"), reservation, light(body))

    def answer() -> Response:
        if (tensor, start, stop) != (None, None, None):
            return shard(request, tensor, index(start, "start"), index(stop, "stop"), "POST", reservation)
        if matches(if_none_match, etag(request, media)):
            raise ProblemError(
                412,
                "If-None-Match matched: a POST cannot answer 304; use GET /init for caching",
                kind="precondition-failed",
            )
        return respond(request, media, "POST", settings, memory, reservation)

    return warned(await offload(answer, reservation, small(request)), request)


def _query_help(field: text.TextField) -> str:
    if field.kind == "scheme":
        return "a scheme name or alias; its parameters are further query parameters, e.g. &mode=fan_out"
    return field.help


def _typed_as(schema: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A query parameter's published schema: the JSON schema of the body field it stands for (the
    non-null member: an absent parameter is the field's default), whose text the same validation
    reads (service.spec.text: a JSON integer, a name, comma-separated dimensions, a scheme name)."""

    def publish(target: dict[str, Any]) -> None:
        description = target.get("description")
        target.clear()
        target.update(schema)
        if description:
            target["description"] = description

    return publish


def _member(schema: dict[str, Any], kind: str) -> dict[str, Any]:
    (member,) = [member for member in schema.get("anyOf", [schema]) if member.get("type") != "null"]
    if kind == "scheme":  # a name (its parameters are further query parameters), not an object
        named = next(named for named in member["oneOf"] if named.get("type") == "string")
        member = {**named, "examples": ["xavier_uniform"]}
    if kind == "dims":  # comma-separated: no text writes an empty list
        member = {**member, "minItems": 1, "examples": [[256, 784]]}
    return {key: value for key, value in member.items() if key not in ("default", "title")}


def _query_model() -> type[BaseModel]:
    """GET /init's query parameters: the shorthand's fields (service.spec.text) as text, and the
    shard bounds. What they mean is checked after, by the same validation as a POST body; the
    document publishes each as the body field it stands for."""
    body = InitRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    fields: dict[str, Any] = {
        field.name: (str if field.required else str | None, Field(... if field.required else None,
                     description=_query_help(field),
                     json_schema_extra=_typed_as(_member(body["properties"][field.name], field.kind))))
        for field in text.SHORTHAND
    }  # fmt: skip
    for bound in ("start", "stop"):
        fields[bound] = (str | None, Field(None, description=SHARD[bound], pattern=INDEX))
    return create_model("InitQuery", __config__=ConfigDict(extra="allow"), **fields)


if TYPE_CHECKING:  # the model is made from the field table at import time; type checkers see a model
    InitQuery = BaseModel
else:
    InitQuery = _query_model()
QUERY_FIELDS = (*(field.name for field in text.SHORTHAND), "start", "stop")


def _invalid(problems: text.Problems) -> ProblemError:
    errors = [field_error(field, message) for field, message in problems]
    return ProblemError(422, "; ".join(f"{e.field}: {e.message}" for e in errors), kind="invalid-request",
                        errors=errors)  # fmt: skip


def _body_of_query(request: Request) -> InitRequest:
    """The one-tensor body GET /init's query string describes, validated as POST /init's."""
    query, problems = text.single(request.query_params.multi_items(), QUERY_FIELDS)
    if problems:
        raise _invalid(problems)
    shorthand = {key: value for key, value in query.items() if key in QUERY_FIELDS and key not in ("start", "stop")}
    params = {key: value for key, value in query.items() if key not in QUERY_FIELDS}
    raw = text.body_from_text(shorthand, params, problems)
    if problems:
        raise _invalid(problems)
    try:
        return InitRequest.model_validate(raw)
    except ValidationError as error:
        found = validation_errors(error.errors(), raw)
        raise ProblemError(
            422, "; ".join(f"{e.field}: {e.message}" for e in found[:5]), kind="invalid-request", errors=found
        ) from None


@get(
    router,
    "/init",
    summary="One tensor from query parameters: the cache-friendly form (ETag, 304, HEAD)",
    response_class=SafetensorsResponse,
    responses={
        **ARTIFACT_RESPONSES,
        206: {
            "description": "Partial Content: the byte ranges of the file a Range header asks for, one as is, "
            "several as multipart/byteranges",
            "content": {
                BINARY: {"schema": {"type": "string", "format": "binary"}},
                "multipart/byteranges": {"schema": {"type": "string", "format": "binary"}},
            },
            "headers": {"Content-Range": {"description": "the range sent (one range)", "schema": {"type": "string"}}},
        },
        304: {"description": "Not Modified: the ETag matched"},
        **problem_responses(416),
    },
)
async def get_init(
    request: Request,
    settings: SettingsDep,
    query: Annotated[InitQuery, Query()],
    accept: Annotated[str | None, accept_header(BINARY, JSON)] = None,
    if_none_match: Annotated[str | None, Header()] = None,
    range_: Annotated[str | None, Header(alias="range")] = None,
    if_range: Annotated[str | None, Header()] = None,
    memory: RememberedDep = None,  # type: ignore[assignment]  # FastAPI fills it; a default orders the parameters
    reservation: ReservationDep = None,  # type: ignore[assignment]  # the same
) -> Response:
    """The same artifact as POST /init with the one-tensor shorthand, addressable by URL, so any
    HTTP cache can serve repeats. Scheme parameters are query parameters (`&gain=2&mode=fan_out`).
    Range requests (single or multiple byte ranges) generate only the elements they cover;
    ``&start=&stop=`` returns a shard of raw little-endian elements."""
    media = negotiate(accept)
    core = checked(_body_of_query(request), settings.max_elements, "GET /init")  # one tensor: quick

    def answer() -> Response:
        start, stop = request.query_params.get("start"), request.query_params.get("stop")
        if start is not None or stop is not None:
            return shard(core, None, index(start, "start"), index(stop, "stop"), request.method, reservation)
        tag = etag(core, media)
        if matches(if_none_match, tag):
            return Response(status_code=304, headers=headers_of(tag))
        if range_ and media == BINARY and request.method == "GET":
            partial = byte_ranges(core, range_, if_range, reservation)
            if partial is not None:
                return partial
        return respond(core, media, request.method, settings, memory, reservation)

    return warned(await offload(answer, reservation, small(core)), core)
