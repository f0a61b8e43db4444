"""The cheapest FastAPI app that answers like ours: a constant octet-stream body, the baseline for small requests.

    BENCH_BODY_BYTES=263232 python -m uvicorn bench.minimal_app:app --port 8001

POST /init ignores its body and returns BENCH_BODY_BYTES zero bytes, the size of our answer to the
request being compared, so both servers move the same bytes; GET /body returns the same (and serves
as the readiness probe). Handlers are ``async def``: no thread-pool hop, the framework's floor.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Response

BODY = bytes(int(os.environ.get("BENCH_BODY_BYTES", "263232")))
BINARY = "application/octet-stream"

app = FastAPI(title="bench-minimal")


@app.post("/init")
async def post_init() -> Response:
    return Response(BODY, media_type=BINARY)


@app.get("/body")
async def get_body() -> Response:
    return Response(BODY, media_type=BINARY)
