"""The FastAPI application: ``uvicorn service.app:app``, or ``create_app(settings)`` in tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware

from . import __version__, engine
from .admission import Admission, MemoryBudget
from .engine import Request, TensorSpec, build, keep_freed_memory
from .handlers import HANDLERS
from .jobs import JobStore
from .middleware import BodyGuard, HeadWithoutBody
from .openapi import install as install_openapi
from .representation import Remembered
from .routes import ROUTERS
from .settings import Settings

__all__ = ["DESCRIPTION", "app", "create_app"]

DESCRIPTION = """Seeded neural-network initial weights as safetensors files, byte-identical on every
machine, with diagnostics. Algorithm: initw-v1 (docs/ALGORITHM.md). Errors are RFC 9457
application/problem+json with the field path and what it allows."""


log = logging.getLogger("initw")


def _log_to_stderr() -> None:
    """The service's own lines on stderr, as uvicorn's ("INFO:     ..."), unless the embedding
    program configured logging itself."""
    if log.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def _warm_up() -> None:
    # Imports, thread pool, decimal caches and numpy kernels, before the first real request.
    build(Request(0, (TensorSpec("warmup", (64, 64), "truncated_normal"), TensorSpec("o", (8, 8), "orthogonal"))))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    _log_to_stderr()
    keep_freed_memory()  # a process-wide allocator setting: the server's to make, not a library's

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(_warm_up)
        path = ", ".join(f"{key}={value}" for key, value in engine.kernels_in_use().items())
        log.info("%s values: %s", engine.algorithm(), path)
        # A fresh store per start: an app started again after a shutdown takes jobs again.
        app.state.jobs = JobStore(settings.job_dir or None, seconds=settings.job_seconds,
                                  ttl_seconds=settings.job_ttl_seconds, queue=settings.job_queue,
                                  quota_bytes=settings.job_dir_bytes)  # fmt: skip
        await run_in_threadpool(app.state.jobs.sweep)  # finished jobs older than the TTL
        app.state.ready = True
        yield
        await run_in_threadpool(app.state.jobs.shutdown)  # the running job stops at its next minibatch

    app = FastAPI(
        title="initw",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        exception_handlers=HANDLERS,  # type: ignore[arg-type]  # handlers typed per exception class
        generate_unique_id_function=lambda route: route.name,
        # No 307 from /x/ to /x: /pretrain/..%2F would be sent to /pretrain/.., which clients resolve to /.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.remembered = Remembered(settings.cache_bytes, settings.cache_file_bytes)
    app.state.ready = False
    for router in ROUTERS:
        app.include_router(router)
    app.state.budget = MemoryBudget(settings.memory_budget_bytes, settings.queue_seconds)
    app.add_middleware(
        Admission, budget=app.state.budget, send_seconds=settings.send_seconds, work_seconds=settings.request_seconds
    )
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes, seconds=settings.body_seconds)
    app.add_middleware(HeadWithoutBody)
    origins = [origin.strip() for origin in settings.cors_origins.split(",") if origin.strip()]
    if origins:  # off by default: browsers on other origins may not read the answers
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "HEAD", "POST", "DELETE"],
            allow_headers=["Content-Type", "Accept", "If-None-Match", "Range", "If-Range"],
            expose_headers=["ETag", "Repr-Digest", "Content-Length", "Content-Range", "Retry-After", "Location"],
            max_age=600,
        )
    install_openapi(app)
    return app


app = create_app()
