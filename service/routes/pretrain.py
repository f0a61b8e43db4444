"""POST /pretrain, GET /pretrain/{id}, GET /pretrain/{id}/artifact, DELETE /pretrain/{id}:
greedy layer-wise autoencoder pre-training as a job (service.jobs says what survives what).

POST answers 202 with ``Location: /pretrain/{id}`` and the job's state when it creates the job or
finds it queued or running, 200 with the state when the same request is already done (the
artifact is ready: nothing is recomputed). A job that failed, was cancelled or was lost starts
again. The id is a token of 128 random bits, new for every POST: identical requests share one
computation, but no client can reach another's job through the request it knows. A POST with an
``Idempotency-Key`` header gets the same id each time it is sent with that key (its retries),
and still an id nobody else can derive.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from .. import engine
from ..admission import MIB, MemoryBudget
from ..jobs import DONE, TOKEN_PATTERN, Busy, Control, Full, JobStore, Work
from ..problems import ProblemError
from ..representation import BINARY, IMMUTABLE, JSON, matches, repr_digest
from ..settings import Settings
from ..spec.pretrain import PretrainRequest, canonical, to_network, training_data
from .common import ParsedBodyRoute, problem_responses

__all__ = ["router"]

router = APIRouter(tags=["pre-training"], route_class=ParsedBodyRoute)
CHUNK = 1 << 20
STATE = {"description": "The job: status, progress (layer, epoch, losses so far), timestamps, artifact digest",
         "content": {JSON: {"schema": {"type": "object"}}}}  # fmt: skip

# The job's id, as POST /pretrain answers it; any other path is a 404 (no such job).
Job = Annotated[
    str,
    Path(
        description="the id POST /pretrain answered (this client's token for the job)",
        examples=["0123456789abcdef0123456789abcdef"],
        json_schema_extra={"pattern": TOKEN_PATTERN},
    ),
]
# The operations a job's id opens, as OpenAPI links from the answers of POST /pretrain.
LINKS = {
    name: {"operationId": operation, "parameters": {"job": "$response.body#/id"}, "description": description}
    for name, operation, description in (
        ("status", "get_pretrain", "the job's status and progress"),
        ("artifact", "get_artifact", "the pre-trained file, once the job is done"),
        ("give_up", "delete_pretrain", "cancel the job or delete its artifact"),
    )
}


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="your name for this POST, sent again with its retries: they get the same job id "
        "(1-255 visible ASCII characters; a new random value per job you start)",
    ),
]


def _store(request: Request) -> JobStore:
    return request.app.state.jobs


def _known(request: Request, token: str) -> tuple[str, dict[str, Any]]:
    """The job a client's token names and its state as that client sees it (its token as the id)."""
    store = _store(request)
    job = store.resolve(token)
    state = None if job is None else store.view(job)
    if job is None or state is None:
        raise ProblemError(404, f"no pre-training job {token!r} (never created, deleted, or older than the TTL)",
                           kind="unknown-job")  # fmt: skip
    return job, {**state, "id": token}


def _work(
    seed: int,
    dtype: str,
    text: str,
    net: engine.Network,
    x: np.ndarray,
    training: engine.Training,
    memory: tuple[MemoryBudget, int],
) -> Work:
    """The job's work: pre-train, then the safetensors file with the request and losses as metadata.
    It holds the decoded rows, not the request (whose base64 copy of them would double the memory),
    and, while it runs, its share of the worker's memory budget (``memory``: the budget and the
    bytes it reserves, waiting as a request does; a job that finds no room fails and says so)."""

    def work(control: Control) -> Iterator[bytes]:
        budget, need = memory
        try:
            budget.reserve(need, "this pre-training job")
        except ProblemError as busy:
            raise ValueError(busy.detail) from None  # the job fails with the reason
        try:
            yield from _pretrained_file(control)  # the store writes the pieces as they come
        finally:
            budget.give_back(need)

    def _pretrained_file(control: Control) -> Iterator[bytes]:
        epochs, layers = training.epochs, len(net.layers)
        losses: list[list[float]] = []

        def progress(layer: int, epoch: int, loss: float) -> None:
            if epoch == 0:
                losses.append([])
            losses[layer].append(loss)
            done = layer * epochs + epoch
            control.report({"layer": layer, "epoch": epoch, "layers": layers, "epochs": epochs,
                            "fraction": done / (layers * epochs), "losses": losses})  # fmt: skip

        stored = engine.get_dtype(dtype)
        result = engine.pretrain(
            net, seed, x, training, progress, control.should_stop, lambda v: stored.to_float64(stored.round(v))
        )
        # The training curve uses the decoder bias as trained, which the file does not hold; beside
        # it, one rule at both ends (the best constant decoder bias): the initial weights, and the
        # file's weights on the file's own codes, which the data and the file reproduce.
        control.report({"layer": layers - 1, "epoch": epochs, "layers": layers, "epochs": epochs, "fraction": 1.0,
                        "losses": result.losses, "baselines": result.baselines,
                        "file_losses": result.file_losses})  # fmt: skip

        def rounded(values: np.ndarray) -> Callable[[], bytes]:
            return lambda: stored.round(values).tobytes()

        # Each tensor is rounded when the file reaches it: one tensor's bytes in memory at a time.
        tensors: dict[str, engine.TensorBytes] = {
            name: (stored.safetensors, values.shape, rounded(values)) for name, values in result.tensors.items()
        }
        metadata = {"algorithm": engine.algorithm(), "seed": str(seed), "request": text, "format": "pt",
                    "pretrain": engine.canonical_json({"losses": result.losses})}  # fmt: skip
        return engine.file_pieces(tensors, metadata)

    return work


@router.post(
    "/pretrain",
    status_code=202,
    summary="Greedy layer-wise autoencoder pre-training on your data: start a job (or find it)",
    responses={
        202: {
            **STATE,
            "headers": {"Location": {"description": "the job", "schema": {"type": "string"}}},
            "links": LINKS,
        },
        200: {
            **STATE,
            "description": "The same request is already done: its state (the artifact is ready)",
            "links": LINKS,
        },  # fmt: skip
        **problem_responses(400, 408, 413, 415, 422, 503),
    },
)
def post_pretrain(body: PretrainRequest, request: Request, idempotency_key: IdempotencyKey = None) -> Response:
    """Each layer in turn is trained as a tied autoencoder (sigmoid by default, linear decoder,
    mean squared error, Adam) on the previous layer's codes of your data, starting from the
    core's bytes for ``layers.{i}.weight``; the file holds the pre-trained ``layers.{i}.weight``
    and ``.bias``. Pinned arithmetic: the same file on every machine for a seed and a data set
    (docs/ALGORITHM.md section 16). Bounded by INITW_PRETRAIN_BUDGET multiply-adds (413) and
    INITW_JOB_SECONDS per job; at most INITW_JOB_QUEUE jobs wait per worker process (503)."""
    settings = request.app.state.settings
    budget = settings.pretrain_budget
    net = to_network(body)
    x, digest = training_data(body)
    widths = [net.input_width] + [layer.width for layer in net.layers]
    spent = engine.pretrain_cost(x.shape[0], widths, body.epochs)
    if spent > budget:
        raise ProblemError(
            413,
            f"pre-training this stack on {x.shape[0]} rows for {body.epochs} epochs costs about {spent:.3g} pinned "
            f"multiply-adds; the budget is {budget:.3g} (INITW_PRETRAIN_BUDGET): use fewer rows, epochs or "
            "narrower layers",
            kind="over-budget",
        )
    need, tensor_bytes = _within_limits(settings, request.app.state.budget, x.shape[0], widths, body)
    described = {"algorithm": engine.algorithm(), "procedure": "pretrain", "request": canonical(body, net, digest)}
    text = engine.canonical_json(described)
    work = _work(body.seed, body.dtype, text, net, x, body.training(), (request.app.state.budget, need))
    # The file: the tensors and a header holding the request and the losses (a float per layer and epoch).
    file_bytes = tensor_bytes + len(text) + 32 * len(widths) * (body.epochs + 1) + 4096
    try:
        state, _ = _store(request).submit(described, work, kind="pretrain", nbytes=file_bytes)
    except Full as full:
        detail = f"{full} (INITW_JOB_DIR_BYTES: finished jobs' files are removed oldest first to make room)"
        raise ProblemError(503, detail, kind="storage-full", headers={"Retry-After": str(full.retry_after)}) from None
    except Busy as busy:
        detail = f"{busy}: each worker process runs one job at a time and queues at most INITW_JOB_QUEUE more"
        raise ProblemError(503, detail, kind="busy", headers={"Retry-After": str(busy.retry_after)}) from None
    token = _store(request).issue(state["id"], idempotency_key)  # this client's own handle on the job
    status = 200 if state["status"] == DONE else 202
    return JSONResponse({**state, "id": token}, status_code=status, headers={"Location": f"/pretrain/{token}"})


def _within_limits(
    settings: Settings, budget: MemoryBudget, rows: int, widths: list[int], body: PretrainRequest
) -> tuple[int, int]:
    """The bytes the job will hold (its reservation) and its tensors' bytes in the file, or a 413
    saying by how much a limit is passed: the file's size (INITW_JOB_ARTIFACT_BYTES) or the whole
    memory budget of a worker process."""
    itemsize = engine.get_dtype(body.dtype).itemsize
    parameters = sum(n * m + m for n, m in zip(widths, widths[1:], strict=False))
    file = itemsize * parameters
    if file > settings.job_artifact_bytes:
        raise ProblemError(
            413,
            f"the pre-trained file would hold {parameters:,} {body.dtype} values ({file:,} bytes), "
            f"{file - settings.job_artifact_bytes:,} bytes more than INITW_JOB_ARTIFACT_BYTES "
            f"({settings.job_artifact_bytes:,}): use narrower or fewer layers, or a smaller dtype",
            kind="artifact-too-large",
        )
    need = engine.pretrain_memory(rows, widths, body.batch_size, itemsize)
    if need > budget.total:
        raise ProblemError(
            413,
            f"pre-training this stack on {rows:,} rows holds up to {need / MIB:,.0f} MiB, "
            f"{(need - budget.total) / MIB:,.0f} MiB more than the worker's whole memory budget "
            f"({budget.total / MIB:,.0f} MiB, INITW_MEMORY_BUDGET_BYTES): use fewer rows or narrower layers",
            kind="over-budget",
        )
    return need, file


@router.get(
    "/pretrain/{job}",
    summary="A pre-training job: status, progress, losses per layer and epoch",
    responses={200: STATE, **problem_responses(404)},
)
def get_pretrain(job: Job, request: Request) -> Response:
    """``status`` is queued, running, done, failed (with ``reason``; a job whose worker process
    stopped reads as failed, reason "lost: ...") or cancelled. ``progress.losses[l][e]`` is layer
    l's full-data reconstruction MSE after e epochs (e = 0: before training)."""
    return JSONResponse(_known(request, job)[1])


@router.get(
    "/pretrain/{job}/artifact",
    summary="The pre-trained weights as a safetensors file, once the job is done",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The safetensors file",
            "content": {BINARY: {"schema": {"type": "string", "format": "binary"}}},
            "headers": {"Repr-Digest": {"description": "RFC 9530 SHA-256 of the body", "schema": {"type": "string"}}},
        },
        304: {"description": "Not modified (If-None-Match)"},
        **problem_responses(404, 409),
    },
)
def get_artifact(job: Job, request: Request, if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """The file holds ``layers.{i}.weight`` and ``layers.{i}.bias`` in the request's dtype; its
    metadata the algorithm, the seed, the canonical request (``request``, the data named by its
    SHA-256) and the losses (``pretrain``)."""
    internal, state = _known(request, job)
    if state["status"] != DONE:
        why = f": {state['reason']}" if state.get("reason") else ""
        raise ProblemError(409, f"the job is {state['status']}{why}; its artifact exists once it is done",
                           kind="job-not-done")  # fmt: skip
    tag = state["artifact"]["etag"]
    headers = {"ETag": tag, "Cache-Control": IMMUTABLE,
               "Content-Disposition": f'attachment; filename="initw-pretrain-{job[:12]}.safetensors"'}  # fmt: skip
    if matches(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    try:
        handle = open(_store(request).artifact(internal), "rb")  # noqa: SIM115  (closed by the stream)
    except OSError:  # deleted or swept since the state was read
        raise ProblemError(404, f"the artifact of job {job!r} is gone (deleted or older than the TTL)",
                           kind="unknown-job") from None  # fmt: skip
    headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
    headers["Repr-Digest"] = repr_digest(bytes.fromhex(state["artifact"]["sha256"]))  # as every artifact has

    def chunks() -> Iterator[bytes]:
        with handle:  # an open file survives its removal: the client gets the whole file
            while chunk := handle.read(CHUNK):
                yield chunk

    return StreamingResponse(chunks(), media_type=BINARY, headers=headers)


@router.delete(
    "/pretrain/{job}",
    status_code=204,
    summary="Give a job up: cancel it if queued or running, delete it if finished",
    responses={
        204: {"description": "Given up: cancelled (at its next minibatch) or deleted"},
        **problem_responses(404),
    },
)
def delete_pretrain(job: Job, request: Request) -> Response:
    """The id is this client's token, forgotten at once: GET, the artifact and DELETE answer 404 for
    it afterwards. A queued or running job becomes cancelled (a running one at its next minibatch,
    in whichever worker process runs it) once every client that posted the same request has given
    it up; a finished one is removed with its artifact once no client holds a token. Nobody else's
    token is touched."""
    if not _store(request).withdraw(job):
        raise ProblemError(404, f"no pre-training job {job!r}", kind="unknown-job")
    return Response(status_code=204)
