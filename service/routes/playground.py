"""GET /: the playground, a page that drives the API from a browser (service/playground/). Its two
assets are served under /playground/. The files ship in the package (pyproject.toml package-data),
are read once, and are answered with a Content-Security-Policy that lets the page run only its own
script and talk only to this origin. None of these routes are in the OpenAPI document: they are a
page, not the API."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import Response

from ..representation import matches
from .common import ParsedBodyRoute, get

__all__ = ["router"]

router = APIRouter(tags=["playground"], route_class=ParsedBodyRoute)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def _asset(name: str, media_type: str) -> Asset:
    body = (resources.files("service") / "playground" / name).read_bytes()
    return Asset(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:40] + '"')


ASSETS = {
    "index.html": _asset("index.html", "text/html; charset=utf-8"),
    "app.js": _asset("app.js", "text/javascript; charset=utf-8"),
    "style.css": _asset("style.css", "text/css; charset=utf-8"),
}


def _send(asset: Asset, if_none_match: str | None) -> Response:
    headers = {
        "ETag": asset.etag,
        "Cache-Control": "no-cache",  # revalidate: a new release shows at once, an unchanged one costs a 304
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if matches(if_none_match, asset.etag):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, headers=headers, media_type=asset.media_type)


@get(router, "/", include_in_schema=False)
def playground(if_none_match: Annotated[str | None, Header()] = None) -> Response:
    return _send(ASSETS["index.html"], if_none_match)


@get(router, "/playground/app.js", include_in_schema=False)
def playground_script(if_none_match: Annotated[str | None, Header()] = None) -> Response:
    return _send(ASSETS["app.js"], if_none_match)


@get(router, "/playground/style.css", include_in_schema=False)
def playground_style(if_none_match: Annotated[str | None, Header()] = None) -> Response:
    return _send(ASSETS["style.css"], if_none_match)
