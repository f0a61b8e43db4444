"""Settings from environment variables (prefix INITW_), with embedded defaults that need nothing else.

INITW_HOST=0.0.0.0 INITW_PORT=8000 INITW_WORKERS=2 INITW_MAX_ELEMENTS=67108864 python -m service serve
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Every setting the service reads; docs/OPERATING.md 'Settings' lists them."""

    model_config = SettingsConfigDict(env_prefix="INITW_", extra="ignore")

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8000, ge=0, le=65535, description="TCP port")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes")
    max_elements: int = Field(
        1 << 32, ge=1, description="largest number of elements POST/GET /init generate per request (413 beyond)"
    )
    memory_bytes: int = Field(
        64 << 20,
        ge=0,
        description="files up to this size are generated in memory in one pass; larger ones are streamed "
        "(two passes: digest, then body) in bounded memory",
    )
    cache_bytes: int = Field(64 << 20, ge=0, description="memory for the bodies of small files already served")
    cache_file_bytes: int = Field(1 << 20, ge=0, description="largest body kept in that cache")
    max_diagnostics_elements: int = Field(
        1 << 31, ge=1, description="largest number of elements POST /diagnostics streams through (413 beyond)"
    )
    json_max_bytes: int = Field(
        16 << 20, ge=0, description="largest safetensors file returned base64-encoded in JSON (413 beyond)"
    )
    max_body_bytes: int = Field(
        64 << 20, ge=1024, description="largest request body accepted, uploads included (413 beyond)"
    )
    lsuv_budget: float = Field(
        2e9, gt=0, description="most pinned multiply-adds POST /init/lsuv spends on one request (413 beyond)"
    )
    network_budget: float = Field(
        4e10, gt=0, description="most multiply-adds POST /diagnostics/network spends on one request (413 beyond)"
    )
    pretrain_budget: float = Field(
        1e11, gt=0, description="most pinned multiply-adds POST /pretrain spends on one job (413 beyond)"
    )
    job_artifact_bytes: int = Field(
        256 << 20, ge=1 << 10, description="largest file a pre-training job may produce (413 before it starts)"
    )
    job_dir_bytes: int = Field(
        2 << 30,
        ge=1 << 20,
        description="the job directory's quota for artifacts: finished jobs are removed oldest first to make room; "
        "a job that would not fit beside the running ones gets 503",
    )
    job_seconds: float = Field(
        600.0, gt=0, description="a job that has run this long stops at its next minibatch and fails (time limit)"
    )
    job_dir: str = Field(
        "", description="job states and artifacts, shared by the worker processes (empty: <tempdir>/initw-jobs)"
    )
    job_ttl_seconds: float = Field(
        3600.0, gt=0, description="finished jobs and their artifacts are deleted this long after they finish"
    )
    job_queue: int = Field(
        4, ge=0, le=1000, description="jobs that may wait behind the running one, per worker process (503 beyond)"
    )
    memory_budget_bytes: int = Field(
        1 << 30,
        ge=1 << 20,
        description="memory the requests of one worker process may hold at once (estimated before they start); "
        "a request that does not fit waits up to INITW_QUEUE_SECONDS, then gets 503 with Retry-After",
    )
    queue_seconds: float = Field(
        5.0, ge=0, description="longest wait for room in the memory budget before a 503 with Retry-After"
    )
    body_seconds: float = Field(
        30.0, gt=0, description="a request body must arrive whole within this time (408 beyond: slow bodies)"
    )
    send_seconds: float = Field(
        60.0,
        gt=0,
        description="a response whose client reads nothing for this long is abandoned: the connection closes "
        "and the request's memory is released (a stalled reader cannot hold the budget)",
    )
    request_seconds: float = Field(
        600.0,
        gt=0,
        description="a request's work (generation, hashing, diagnostics, analysis) stops after this long with a "
        "503 problem, or, once its body is streaming, by closing the connection; work whose client has gone "
        "stops at once either way",
    )
    grace_seconds: float = Field(
        30.0, ge=0, description="after SIGTERM, in-flight responses have this long to finish before the process exits"
    )
    cors_origins: str = Field("", description="comma-separated origins allowed by CORS ('*' for any); empty: CORS off")
