"""A small typed Python client for initw: verified downloads and safe retries.

    from service.client import Client

    body = {"seed": 0, "shape": [256, 784], "scheme": "xavier_uniform"}
    with Client("http://127.0.0.1:8000") as initw:
        tensors = initw.init(body)                    # {"weight": (256, 784) float32 array}
        same = initw.get_init([256, 784], "xavier_uniform", seed=0)
        done = initw.init_to_file(body, "w.safetensors")  # streamed to disk, verified, then renamed
        print(done.size, done.sha256)
        keras = initw.schemes("keras")                # a framework's words (GET /schemes?dialect=keras)
        he = initw.scheme("keras.HeNormal")           # one scheme or word (GET /schemes/{name})
        job = initw.wait(initw.pretrain(pretrain_body).id)   # a job: POST, then poll until done
        weights = initw.job_artifact(job.id)
        initw.checkpoint(body, "5GB", "ckpt/")        # Hugging Face's sharded layout: every shard + the index
        initw.checkpoint(body, "5GB", "ckpt/", shards=[2], index=False)  # one machine's share

Every artifact (``init``, ``lsuv``, ``job_artifact`` and their ``*_to_file``) is checked against its
``Content-Length`` (bytes received) and its SHA-256: the RFC 9530 ``Repr-Digest``, or for a job's
artifact the digest in the job's state; a body that is short, cut off or corrupt raises
:class:`IntegrityError`, and ``*_to_file`` never leaves a partial file under the target name. Every
call is safe to repeat (the service is deterministic, most calls change nothing, and ``pretrain`` and
``cancel`` say why they are safe), so connection errors, broken or corrupt bodies, 408, 429, 502, 503
and 504 are retried with exponential backoff and jitter, waiting at least ``Retry-After`` (capped at
``max_wait``); other errors raise :class:`ProblemError` at once, with the RFC 9457 fields of the
answer (``status``, ``type``, ``title``, ``detail``, ``errors``).

The ``*_to_file`` methods take ``progress``, a callable ``progress(received, total)`` (bytes so far,
and the Content-Length or None), throttled for progress bars and logs: it is called at most every
``PROGRESS_INTERVAL`` (0.1) seconds and at most every ``PROGRESS_STEP`` (1%) of the total, only once
both have passed (about 100 calls for a large file, not one per 64 KiB chunk), and always once
when the body is complete, with ``received == total``. A retried download starts again from 0.

Where the service attaches ``Initw-Warning`` headers to a file (an unqualified scheme name that the
request's keras/jax layout's framework reads otherwise: ``he_normal`` is PyTorch's, untruncated, not
Keras's), ``init``, ``get_init`` and ``init_to_file`` issue each as an :class:`InitwWarning` with
``warnings.warn``, and ``init_to_file``'s :class:`Download` keeps them in ``warnings``. The bytes are
what was asked for; the warning says how to ask for the framework's meaning (``"dialect": "keras"``
or ``keras.HeNormal``), or to keep this one silently (``"dialect": "initw"``).
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import functools
import hashlib
import json
import math
import os
import random
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TypedDict, overload
from urllib.parse import quote

import httpx
import numpy as np

from .atomic import replacing
from .core.dtype_codes import CODES
from .core.errors import InitError
from .core.read import read

__all__ = [
    "Client",
    "CheckpointDownload",
    "ClientError",
    "Download",
    "IntegrityError",
    "InitwWarning",
    "JobArtifact",
    "JobError",
    "JobState",
    "JobTimeout",
    "NetworkError",
    "ProblemError",
    "Progress",
    "to_arrays",
]

RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})
_DIGEST = re.compile(r"sha-256=:([A-Za-z0-9+/=]+):")
_SVG = "image/svg+xml"
_UNFINISHED = ("queued", "running")
_sleep, _clock = time.sleep, time.monotonic  # tests replace them
Progress = Callable[[int, int | None], None]
PROGRESS_INTERVAL = 0.1  # seconds: ``progress`` is called at most 10 times a second,
PROGRESS_STEP = 0.01  # and at most every 1% of the total (both must have passed), then once at the end


class InitwWarning(UserWarning):
    """A warning the service attached to its answer (an ``Initw-Warning`` header): the request was
    served as written, but may not mean what its writer meant."""


class ClientError(Exception):
    """Anything that went wrong; ``attempts`` is how many times the call was sent."""

    attempts: int = 1


class NetworkError(ClientError):
    """The server could not be reached, or the connection failed before an answer arrived."""


class IntegrityError(ClientError):
    """A body that is short, cut off, or disagrees with its Content-Length or Repr-Digest."""


class JobError(ClientError):
    """A job that did not end done (failed, cancelled, or lost with its worker), or whose artifact
    was asked for before it was done; ``state`` is the job as last seen."""

    def __init__(self, message: str, state: JobState):
        super().__init__(message)
        self.state = state


class JobTimeout(JobError):
    """``wait`` gave up: the job was still queued or running at the deadline (it goes on)."""


class ProblemError(ClientError):
    """An HTTP error answer, with its RFC 9457 problem fields."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type: str = "about:blank",
        errors: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ):
        self.status, self.title, self.detail, self.type = status, title, detail, type
        self.errors, self.retry_after = errors or [], retry_after
        super().__init__(f"{status} {title}: {detail}")

    @property
    def fields(self) -> list[str]:
        """The paths of the invalid fields, e.g. ['tensors.0.scheme.std']."""
        return [str(error.get("field")) for error in self.errors]

    @classmethod
    def of(cls, response: httpx.Response) -> ProblemError:
        try:
            problem = response.json()
        except ValueError:
            problem = None
        if not isinstance(problem, dict):
            problem = {"detail": response.text[:500]}
        return cls(
            response.status_code,
            str(problem.get("title") or response.reason_phrase),
            str(problem.get("detail", "")),
            type=str(problem.get("type", "about:blank")),
            errors=problem.get("errors"),
            retry_after=_seconds(response.headers.get("retry-after")),
        )


@dataclass(frozen=True)
class _Answer:
    response: httpx.Response
    content: bytes  # empty when the body went to a file
    size: int
    sha256: str
    attempts: int


@dataclass(frozen=True)
class Download:
    """A verified file on disk."""

    path: Path
    size: int
    sha256: str  # hex
    etag: str | None
    attempts: int
    warnings: tuple[str, ...] = ()  # the answer's Initw-Warning headers (never part of the file)


@dataclass(frozen=True)
class CheckpointDownload:
    """The files of a sharded checkpoint written by :meth:`Client.checkpoint`, each verified."""

    directory: Path
    shards: int  # how many shards the checkpoint has (not how many were written)
    files: tuple[Download, ...]  # in the order written: the shards asked for, then the index
    index: dict[str, Any] = field(repr=False, compare=False)  # model.safetensors.index.json, parsed


CHECKPOINT_INDEX = "model.safetensors.index.json"


def _shard_file(shard: int, shards: int) -> str:
    """Hugging Face's name of shard ``shard`` (from 1) of ``shards``."""
    return f"model-{shard:05d}-of-{shards:05d}.safetensors"


class JobArtifact(TypedDict):
    size: int
    sha256: str  # hex
    etag: str


@dataclass(frozen=True)
class JobState:
    """A pre-training job as the server described it; ``raw`` holds the whole answer (request, kind...)."""

    id: str
    status: str  # queued, running, done, failed (reason "lost: ..." when its worker stopped), cancelled
    progress: dict[str, Any] | None  # layer, epoch, layers, epochs, fraction, losses[layer][epoch]
    reason: str | None  # why it failed or was cancelled
    artifact: JobArtifact | None  # once done
    created: str  # ISO 8601 UTC timestamps
    started: str | None
    finished: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, state: dict[str, Any]) -> JobState:
        get = state.get
        return cls(str(state["id"]), str(state["status"]), get("progress"), get("reason"), get("artifact"),
                   str(state["created"]), get("started"), get("finished"), state)  # fmt: skip


def _seconds(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    return None


class _Throttled:
    """A ``progress`` callable for one body of ``total`` bytes (None: unknown), called when both
    PROGRESS_INTERVAL seconds and PROGRESS_STEP of the total have passed since its last call (the
    first when the first 1% has arrived), and by ``end`` once with the whole body."""

    def __init__(self, progress: Progress, total: int | None):
        self.progress, self.total = progress, total
        self.step = total * PROGRESS_STEP if total else 0.0
        self.at, self.reported = -math.inf, -1  # when and at how many bytes it was last called

    def __call__(self, received: int) -> None:
        now = _clock()
        if now - self.at >= PROGRESS_INTERVAL and received - max(self.reported, 0) >= self.step:
            self.progress(received, self.total)
            self.at, self.reported = now, received

    def end(self, received: int) -> None:
        """The body is complete: report it, unless its last call already did."""
        if received != self.reported:
            self.progress(received, self.total)
            self.at, self.reported = _clock(), received


def _verify(response: httpx.Response, received: int, sha256: bytes, required: bool, expected: str | None) -> None:
    """Length against Content-Length; SHA-256 against Repr-Digest and ``expected`` (hex, known
    beforehand: a job's state), whichever are there; ``required``: one of the two must be."""
    length = response.headers.get("content-length")
    if length is not None and length != str(received):
        raise IntegrityError(f"received {received:,} bytes, Content-Length says {length}")
    found = _DIGEST.search(response.headers.get("repr-digest", ""))
    if found is not None and base64.b64decode(found.group(1)) != sha256:
        raise IntegrityError(
            f"the body's SHA-256 is {base64.b64encode(sha256).decode()}, Repr-Digest says "
            f"{found.group(1)}: corrupted on the way"
        )
    if expected is not None and expected != sha256.hex():
        raise IntegrityError(f"the body's SHA-256 is {sha256.hex()}, {expected} was expected: corrupted on the way")
    if required and found is None and expected is None:
        raise IntegrityError("the response has no Repr-Digest sha-256 to check the body against")


def _warnings(response: httpx.Response) -> tuple[str, ...]:
    """The answer's Initw-Warning headers, one warning each (a warning's text may hold commas)."""
    return tuple(response.headers.get_list("initw-warning"))


def _warn(texts: Sequence[str]) -> None:
    """Issue each text as an InitwWarning, attributed to the caller of the public method."""
    for text in texts:
        warnings.warn(text, InitwWarning, stacklevel=3)


def _query_text(value: Any) -> str:
    """A keyword of GET /init as query text: booleans as JSON writes them, sequences comma-separated."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _checkpoint_path(file: str) -> str:
    return f"/init/checkpoint/{quote(file, safe='')}"


def _job_path(job: str, rest: str = "") -> str:
    return f"/pretrain/{quote(job, safe='')}{rest}"  # an id is 32 hex digits; anything else stays one segment


@functools.cache
def _ml_dtypes() -> Any:
    """The ml_dtypes module (bfloat16 and fp8 as numpy dtypes), or None when it is not installed:
    imported on the first file that holds such a tensor, since importing it takes most of a second."""
    try:
        import ml_dtypes
    except ImportError:  # pragma: no cover - without it bfloat16 is widened (exactly) to float32
        return None  # optional: without it bfloat16 and fp8 stay raw bits
    return ml_dtypes


def to_arrays(blob: bytes) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file as numpy arrays (bfloat16 and fp8 need ml_dtypes; without
    it bfloat16 becomes float32, exactly, and fp8 their uint8 bit patterns)."""
    try:
        stored, _ = read(blob)
    except InitError as error:
        raise IntegrityError(str(error)) from None
    arrays = {}
    while stored:  # popping frees each tensor's bytes once it is converted
        name, tensor = stored.popitem()
        code = CODES[tensor.dtype]
        if code.ml_dtypes is not None and (extra := _ml_dtypes()) is not None:
            values = np.frombuffer(tensor.data, dtype=getattr(extra, code.ml_dtypes))
        elif tensor.dtype == "BF16":
            values = (np.frombuffer(tensor.data, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif code.numpy is None:  # fp8 without ml_dtypes: the bit patterns
            values = np.frombuffer(tensor.data, dtype=code.bits())
        else:
            values = np.frombuffer(tensor.data, dtype=code.numpy)
        arrays[name] = values.reshape(tensor.shape).copy()  # writable, independent of the download
    return dict(sorted(arrays.items()))


class Client:
    """initw over HTTP. ``timeout``: seconds to wait for a connection (at most 10) and between bytes;
    ``retries``: how many times a failed call may be repeated; ``backoff``: the first wait, doubled
    each time (times 0.5 to 1.5 at random); ``max_wait``: the longest wait, Retry-After included;
    ``transport``: an httpx transport to send through (tests: httpx.MockTransport)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_wait: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.retries, self.backoff, self.max_wait = retries, backoff, max_wait
        self._http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            headers={"Accept-Encoding": "identity"},
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------------- the API

    def init(self, body: dict[str, Any]) -> dict[str, np.ndarray]:
        """POST /init: the tensors of ``body``, verified, as numpy arrays (the service's warnings, if
        any, as InitwWarning)."""
        answer = self._fetch("POST", "/init", json=body)
        _warn(_warnings(answer.response))
        return to_arrays(answer.content)

    def get_init(self, shape: Sequence[int] | str, scheme: str, seed: int = 0, **params: Any) -> dict[str, np.ndarray]:
        """GET /init, the cacheable one-tensor form; scheme parameters, dtype, layout, dialect, name...
        as keywords (a list or tuple, e.g. ``batch_axis=[0, 1]``, goes as comma-separated integers)."""
        dims = shape if isinstance(shape, str) else ",".join(str(d) for d in shape)
        query = {"shape": dims, "scheme": scheme, "seed": str(seed)}
        query.update({k: _query_text(v) for k, v in params.items()})
        answer = self._fetch("GET", "/init", params=query)
        _warn(_warnings(answer.response))
        return to_arrays(answer.content)

    def init_to_file(
        self, body: dict[str, Any], path: str | os.PathLike[str], *, progress: Progress | None = None
    ) -> Download:
        """POST /init streamed into a temporary file next to ``path``, renamed to ``path`` only once
        its length and digest are verified. ``progress(received, total)`` is called as the bytes
        arrive, throttled (at most 10 times a second and every 1%, then once at the end). The
        service's warnings, if any, are issued as InitwWarning and kept in the Download's ``warnings``."""
        done = self._to_file(path, progress, "POST", "/init", json=body)
        _warn(done.warnings)
        return done

    def checkpoint_index(self, body: dict[str, Any], shard_size: int | str) -> dict[str, Any]:
        """POST /init/checkpoint/model.safetensors.index.json: the index of ``body``'s checkpoint in
        shards of at most ``shard_size`` bytes (an int, or "5GB", "500MB", "2GiB"): ``metadata``
        (total_size, shards, the canonical request) and ``weight_map``. Nothing is generated."""
        answer = self._checkpoint_index(body, shard_size)
        _warn(_warnings(answer.response))
        return json.loads(answer.content)

    def checkpoint_file(
        self,
        body: dict[str, Any],
        shard_size: int | str,
        file: str,
        path: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
    ) -> Download:
        """POST /init/checkpoint/{file}: one file of the checkpoint (a shard named as the index
        names it, or the index) streamed to ``path`` and verified, as ``init_to_file``."""
        done = self._checkpoint_file(body, shard_size, file, path, progress)
        _warn(done.warnings)
        return done

    def _checkpoint_file(
        self,
        body: dict[str, Any],
        shard_size: int | str,
        file: str,
        path: str | os.PathLike[str],
        progress: Progress | None,
    ) -> Download:
        return self._to_file(path, progress, "POST", _checkpoint_path(file), json=body,
                             params={"shard_size": str(shard_size)})  # fmt: skip

    def checkpoint(
        self,
        body: dict[str, Any],
        shard_size: int | str,
        directory: str | os.PathLike[str],
        *,
        shards: Sequence[int] | None = None,
        index: bool = True,
        progress: Progress | None = None,
    ) -> CheckpointDownload:
        """``body``'s tensors as a sharded checkpoint in Hugging Face's layout, written into
        ``directory`` (made if missing): ``model-0000K-of-0000N.safetensors`` files of at most
        ``shard_size`` bytes of tensor data each, and ``model.safetensors.index.json``. ``shards``
        (numbers from 1) writes only those, so N machines can each write theirs; ``index=False``
        leaves the index out. Every file is verified and appears whole or not at all; each is
        byte-identical to what ``python -m service init --local --shard-size`` writes."""
        answer = self._checkpoint_index(body, shard_size)
        _warn(_warnings(answer.response))  # once: every file of the checkpoint carries the same
        raw = answer.content
        parsed = json.loads(raw)
        count = int(parsed["metadata"]["shards"])
        wanted = list(range(1, count + 1)) if shards is None else list(shards)
        outside = [k for k in wanted if not 1 <= k <= count]
        if outside:
            raise ValueError(f"shards {outside}: this checkpoint has shards 1 to {count}")
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        files = [
            self._checkpoint_file(body, shard_size, _shard_file(k, count), folder / _shard_file(k, count), progress)
            for k in dict.fromkeys(wanted)
        ]  # fmt: skip
        if index:
            target = folder / CHECKPOINT_INDEX
            with replacing(target) as file:
                file.write(raw)
            tag = answer.response.headers.get("etag")
            files.append(Download(target, answer.size, answer.sha256, tag, answer.attempts, _warnings(answer.response)))
        return CheckpointDownload(folder, count, tuple(files), parsed)

    def _checkpoint_index(self, body: dict[str, Any], shard_size: int | str) -> _Answer:
        return self._fetch("POST", _checkpoint_path(CHECKPOINT_INDEX), json=body,
                           params={"shard_size": str(shard_size)})  # fmt: skip

    def lsuv(self, body: dict[str, Any]) -> dict[str, np.ndarray]:
        """POST /init/lsuv: the LSUV-scaled ``layers.{i}.weight`` and ``.bias``, verified, as numpy arrays."""
        return to_arrays(self._fetch("POST", "/init/lsuv", json=body).content)

    def lsuv_to_file(
        self, body: dict[str, Any], path: str | os.PathLike[str], *, progress: Progress | None = None
    ) -> Download:
        """POST /init/lsuv to a verified file, as ``init_to_file``."""
        return self._to_file(path, progress, "POST", "/init/lsuv", json=body)

    def schemes(self, dialect: str | None = None) -> list[dict[str, Any]]:
        """GET /schemes: every scheme with its aliases and parameters; with ``dialect`` (torch, keras,
        jax, flax; initw is the default) that framework's initializers by the names, parameters and
        defaults it uses, each with its initw meaning (GET /schemes?dialect=keras)."""
        params = {} if dialect is None else {"dialect": dialect}
        return self._json("GET", "/schemes", params=params)["schemes"]

    def scheme(self, name: str) -> dict[str, Any]:
        """GET /schemes/{name}: one scheme (an alias resolves to it), or a framework word such as
        ``keras.HeNormal`` (its framework call, meaning and parameters); ProblemError 404 if unknown."""
        return self._json("GET", f"/schemes/{quote(name, safe='')}")

    def presets(self) -> list[dict[str, Any]]:
        """GET /presets: every architecture preset ``{"model": {"preset": ...}}`` may name, with its
        rule and paper, every field (type, default or required, range, meaning) and an example body."""
        return self._json("GET", "/presets")["presets"]

    def preset(self, name: str) -> dict[str, Any]:
        """GET /presets/{name}: one preset (ProblemError 404 if there is none by that name)."""
        return self._json("GET", f"/presets/{quote(name, safe='')}")

    def diagnostics(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /diagnostics: per-tensor statistics and verdicts, without the bytes."""
        return self._json("POST", "/diagnostics", json=body)

    def histogram(self, body: dict[str, Any], tensor: str | None = None) -> str:
        """POST /diagnostics as an SVG histogram of one tensor (``tensor`` names it when there are several)."""
        return self._svg("POST", "/diagnostics", json=body, params={} if tensor is None else {"tensor": tensor})

    @overload
    def network(self, body: dict[str, Any], *, svg: Literal[False] = False) -> dict[str, Any]: ...
    @overload
    def network(self, body: dict[str, Any], *, svg: Literal[True]) -> str: ...
    @overload
    def network(self, body: dict[str, Any], *, svg: bool) -> dict[str, Any] | str: ...
    def network(self, body: dict[str, Any], *, svg: bool = False) -> dict[str, Any] | str:
        """POST /diagnostics/network: per-layer propagation, mean field, Jacobian and verdicts, or
        with ``svg=True`` the signal-propagation plot."""
        if svg:
            return self._svg("POST", "/diagnostics/network", json=body)
        return self._json("POST", "/diagnostics/network", json=body)

    # ------------------------------------------------------------------------- pre-training jobs

    def pretrain(self, body: dict[str, Any]) -> JobState:
        """POST /pretrain: start the job (202), or find it queued, running or done (200).

        Retrying this POST is safe although it starts work: the server names the computation by
        the SHA-256 of the canonical request (service/jobs.py) and looks it up before it creates
        anything, so a retry whose first answer was lost finds the job that attempt created instead
        of starting a second one; only a failed, cancelled or lost job is started again. Every
        attempt carries the same random ``Idempotency-Key``, so the retries get the same job id:
        no id this call never returned keeps the job alive after a ``delete``. A 503 (the queue is
        full) created nothing. Behind several replicas this needs the per-client affinity of
        deploy/ (a job lives in the replica that runs it)."""
        key = os.urandom(16).hex()
        return JobState.of(self._json("POST", "/pretrain", json=body, headers={"Idempotency-Key": key}))

    def job(self, job: str) -> JobState:
        """GET /pretrain/{job}: its state now (ProblemError 404 once deleted or swept)."""
        return JobState.of(self._json("GET", _job_path(job)))

    def wait(self, job: str, *, timeout: float | None = 600.0, poll: float = 0.5) -> JobState:
        """Poll the job every ``poll`` seconds until it is done; raises JobError if it failed or was
        cancelled, JobTimeout (the job goes on) if it is unfinished after ``timeout`` seconds (None:
        no limit; the server stops a job after INITW_JOB_SECONDS, but it may queue before that)."""
        deadline = None if timeout is None else _clock() + timeout
        while True:
            state = self.job(job)
            if state.status == "done":
                return state
            if state.status not in _UNFINISHED:
                raise JobError(f"job {job} is {state.status}: {state.reason}", state)
            left = float("inf") if deadline is None else deadline - _clock()
            if left <= 0:
                raise JobTimeout(f"job {job} is still {state.status} after {timeout:g} s", state)
            _sleep(min(poll, left))

    def job_artifact(self, job: str) -> dict[str, np.ndarray]:
        """GET /pretrain/{job}/artifact as numpy arrays, verified against the digest in the job's
        state; JobError if the job is not done."""
        return to_arrays(self._fetch("GET", _job_path(job, "/artifact"), expected=self._digest(job)).content)

    def job_artifact_to_file(
        self, job: str, path: str | os.PathLike[str], *, progress: Progress | None = None
    ) -> Download:
        """The job's artifact to a verified file, as ``init_to_file``."""
        return self._to_file(path, progress, "GET", _job_path(job, "/artifact"), expected=self._digest(job))

    def cancel(self, job: str) -> None:
        """DELETE /pretrain/{job}: give the job up (``job`` is this client's token, which names nothing
        afterwards): a queued or running job is cancelled once every client that posted its request
        has given it up, a finished one removed with the last token.
        Retried like the rest: the 404 of a retry after a lost answer (the first attempt forgot the
        token) counts as done; a first attempt's 404 is an error (no such job)."""
        try:
            self._fetch("DELETE", _job_path(job), artifact=False)
        except ProblemError as error:
            if error.status != 404 or error.attempts == 1:
                raise

    # ------------------------------------------------------------------------- operations

    def version(self) -> dict[str, Any]:
        """GET /version: the service, algorithm (initw-v1), numpy and Python versions."""
        return self._json("GET", "/version")

    def health(self) -> dict[str, Any]:
        """GET /healthz: the process answers."""
        return self._json("GET", "/healthz")

    def ready(self) -> bool:
        """GET /readyz, once: True when ready; False while warming up, overloaded or unreachable."""
        try:
            return self._fetch("GET", "/readyz", artifact=False, retry=False).response.status_code == 200
        except ClientError:
            return False

    # ------------------------------------------------------------------------- sending, verifying, retrying

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return json.loads(self._fetch(method, path, artifact=False, **kwargs).content)

    def _svg(self, method: str, path: str, **kwargs: Any) -> str:
        return self._fetch(method, path, artifact=False, headers={"Accept": _SVG}, **kwargs).content.decode()

    def _digest(self, job: str) -> str:
        """The SHA-256 (hex) of a done job's artifact, from its state: what its download must match."""
        state = self.job(job)
        if state.artifact is None:
            raise JobError(f"job {job} is {state.status}; its artifact exists once it is done", state)
        return state.artifact["sha256"]

    def _to_file(
        self, path: str | os.PathLike[str], progress: Progress | None, method: str, url: str, **kwargs: Any
    ) -> Download:
        """An artifact streamed into a temporary file next to ``path``, renamed once verified."""
        target = Path(path)
        with replacing(target) as file:
            answer = self._fetch(method, url, file=file, progress=progress, **kwargs)
        headers = answer.response.headers
        return Download(
            target, answer.size, answer.sha256, headers.get("etag"), answer.attempts, _warnings(answer.response)
        )

    def _fetch(
        self,
        method: str,
        path: str,
        *,
        artifact: bool = True,
        retry: bool = True,
        file: IO[bytes] | None = None,
        progress: Progress | None = None,
        expected: str | None = None,
        **kwargs: Any,
    ) -> _Answer:
        """One verified answer (its body in memory, or in ``file``), retried while that is safe and useful."""
        attempt = 1
        while True:
            try:
                if file is not None:
                    file.seek(0)
                    file.truncate()
                return self._once(method, path, artifact, expected, file, progress, attempt, **kwargs)
            except ClientError as error:
                error.attempts = attempt
                retryable = not isinstance(error, ProblemError) or error.status in RETRY_STATUSES
                if not (retry and retryable and attempt <= self.retries):
                    raise
                _sleep(self._wait(attempt, error))
                attempt += 1

    def _wait(self, attempt: int, error: ClientError) -> float:
        """Exponential backoff with jitter, at least Retry-After, at most max_wait."""
        wait = self.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
        if isinstance(error, ProblemError) and error.retry_after is not None:
            wait = max(wait, error.retry_after)
        return min(wait, self.max_wait)

    def _once(
        self,
        method: str,
        path: str,
        artifact: bool,
        expected: str | None,
        file: IO[bytes] | None,
        progress: Progress | None,
        attempt: int,
        **kwargs: Any,
    ) -> _Answer:
        try:
            with self._http.stream(method, path, **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ProblemError.of(response)
                length = response.headers.get("content-length")
                total = int(length) if length is not None and length.isdigit() else None
                sha256, received, chunks = hashlib.sha256(), 0, []
                throttled = None if progress is None else _Throttled(progress, total)
                try:
                    for chunk in response.iter_bytes():  # as sent: Accept-Encoding is identity
                        sha256.update(chunk)
                        received += len(chunk)
                        if file is None:
                            chunks.append(chunk)
                        else:
                            file.write(chunk)
                        if throttled is not None:
                            throttled(received)
                except httpx.TransportError as error:  # RemoteProtocolError on a short body, read timeouts
                    raise IntegrityError(
                        f"the body broke off after {received:,} of {total or '?'} bytes: {error}"
                    ) from error
                if throttled is not None:
                    throttled.end(received)
                _verify(response, received, sha256.digest(), artifact, expected)
                return _Answer(response, b"".join(chunks), received, sha256.hexdigest(), attempt)
        except httpx.TransportError as error:  # before any answer: refused, reset, timed out
            raise NetworkError(f"{method} {path}: {type(error).__name__}: {error}") from error
