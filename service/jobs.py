"""Jobs: computations too long for one request, run in the background with their state on disk.

    <directory>/                      INITW_JOB_DIR, default <tempdir>/initw-jobs
        .lock                         flock held while a job is created, deleted or swept
        <id>/state.json               the job's state, replaced atomically (service.atomic)
        <id>/artifact.safetensors     the result, once done
        <id>/cancel                   present once a DELETE asked a queued or running job to stop
        tokens/<token>                the job a client's token names (removed by its DELETE)
        .secret                       32 random bytes: the HMAC key of tokens issued for idempotency keys

A job's id is the first 32 hex digits of the SHA-256 of its canonical request: the same request
names the same job, so posting it twice is idempotent (it starts again only if it failed, was
cancelled or was lost). That id stays inside: clients hold tokens, 128 random bits each, one per
POST (``issue``), so knowing a request gives nobody a handle on another client's job; a POST with
an ``Idempotency-Key`` gets the same token on every retry (an HMAC under the directory's secret),
so a retry after a lost answer leaves no orphan token that would keep the job alive. A DELETE
withdraws one token (``withdraw``), which names nothing from then on: a queued or running job is
cancelled once no token names it, and a finished job is removed with its last token.

Every uvicorn worker process owns one store with one thread, so it runs one job at a time; at
most ``queue`` more wait behind it, beyond which ``submit`` raises Busy (the route answers 503
with Retry-After: the service, not the client, is out of capacity). Because the state is on
disk, any worker answers for any job.

Lifetime, and what survives what:

- A running job stops at its next minibatch once it has run ``seconds`` (failed, with the
  reason), once a DELETE marks it (cancelled), or when its process shuts down (failed).
- A process that dies without shutting down leaves its queued and running jobs' state behind:
  their owner (pid and process start time) is no longer alive, so they read as failed with the
  reason ``lost: the worker process that ran it stopped``. A restart therefore loses queued and
  running jobs; posting the request again starts it anew.
- Finished jobs (done, failed, cancelled, lost) are swept ``ttl_seconds`` after they finished, at
  startup and on every submit; done artifacts persist until then, across restarts if the
  directory does (the container's /tmp is a tmpfs: a container restart loses everything). The
  temporary files of writes that a killed process left half done go at the first sweep.
- A DELETE of a finished job removes it at once.

The directory must be shared by the worker processes of one service (same host) and nothing
else; flock makes creating and sweeping safe between them (POSIX only).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .atomic import replacing
from .engine import canonical_json

__all__ = [
    "Busy",
    "Control",
    "Full",
    "JobStore",
    "LOST",
    "PRIVATE",
    "TOKEN_PATTERN",
    "UNFINISHED",
    "Work",
    "job_id",
    "log",
]

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
TOKEN_PATTERN = r"^[0-9a-f]{32}$"  # what JobStore.issue hands out: 128 bits in hex
UNFINISHED = (QUEUED, RUNNING)
LOST = "lost: the worker process that ran it stopped"
STATE, ARTIFACT, CANCEL, TOKENS = "state.json", "artifact.safetensors", "cancel", "tokens"
SECRET = ".secret"  # the key of the tokens issued for idempotency keys
PRIVATE = ("pid", "pid_start")  # the owner, for the store's own use: no client learns about the host
_ID = re.compile(r"[0-9a-f]{32}")
log = logging.getLogger("initw")


def _public(state: dict[str, Any]) -> dict[str, Any]:
    """A state as clients see it: without the PRIVATE keys."""
    return {key: value for key, value in state.items() if key not in PRIVATE}


class Busy(Exception):
    """Too many jobs wait in this process; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"the job queue is full; retry after {retry_after} s")
        self.retry_after = retry_after


class Full(Busy):
    """The job directory's quota has no room: the running and waiting jobs' files would fill it."""

    def __init__(self, missing: int, retry_after: int):
        super().__init__(retry_after)
        self.missing = missing
        self.args = (f"the job directory's quota is short of {missing:,} bytes for this job's file "
                     f"while other jobs run; retry after {retry_after} s",)  # fmt: skip


@dataclass
class Control:
    """What a job's work function gets: ``report`` its progress, ask ``should_stop`` often."""

    report: Callable[[dict[str, Any]], None]
    should_stop: Callable[[], bool]
    why: str | None = None  # set when should_stop first answers True: cancelled, time limit, shutdown


Work = Callable[[Control], bytes | Iterable[bytes]]  # the artifact's bytes, whole or piece by piece


@dataclass
class _Active:
    future: Future[None]
    started: float | None = None  # time.monotonic() when it began running


def job_id(canonical: dict[str, Any]) -> str:
    """The job's name: SHA-256 of the canonical JSON of its request, first 32 hex digits."""
    return hashlib.sha256(canonical_json(canonical).encode()).hexdigest()[:32]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _age(stamp: str) -> float:
    return time.time() - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime, counted after "pid (comm)"


def _alive(pid: Any, start: str | None) -> bool:
    if not isinstance(pid, int) or pid <= 0:  # 0 and negatives would name process groups
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    return start is None or _process_start(pid) in (None, start)


def _write_atomically(path: Path, data: bytes | Iterable[bytes]) -> tuple[int, str]:
    """Write ``data`` (piece by piece: nothing holds the whole file); readers see the old file or
    the new one, never a partial one (service.atomic). Its size and SHA-256 (hex)."""
    digest, size = hashlib.sha256(), 0
    with replacing(path) as file:
        for piece in [data] if isinstance(data, bytes) else data:
            file.write(piece)
            digest.update(piece)
            size += len(piece)
    return size, digest.hexdigest()


class JobStore:
    """Jobs of this service: created, run (one at a time here), observed and swept on disk."""

    def __init__(
        self,
        directory: str | Path | None = None,
        *,
        seconds: float = 600,
        ttl_seconds: float = 3600,
        queue: int = 4,
        quota_bytes: int | None = None,
    ):
        self.directory = Path(directory) if directory else Path(tempfile.gettempdir()) / "initw-jobs"
        self.seconds, self.ttl_seconds, self.queue = seconds, ttl_seconds, queue
        self.quota_bytes = quota_bytes  # the artifacts the directory may hold (None: no quota)
        self._executor: ThreadPoolExecutor | None = None  # made on the first submit: no thread until needed
        self._active: dict[str, _Active] = {}
        self._lock = threading.Lock()
        self._closing = False
        self._gate = threading.Event()  # cleared by paused(): running jobs wait at their next check
        self._gate.set()
        self._pid, self._pid_start = os.getpid(), _process_start(os.getpid())

    # --- reading -----------------------------------------------------------------------------

    def _dir(self, job: str) -> Path | None:
        return self.directory / job if _ID.fullmatch(job) else None  # never a path from the client

    def _read(self, job: str) -> dict[str, Any] | None:
        where = self._dir(job)
        try:
            state = json.loads((where / STATE).read_bytes()) if where else None
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) and state.get("id") == job and "status" in state else None

    def view(self, job: str) -> dict[str, Any] | None:
        """The job's state as clients see it (a dead owner makes it failed: lost); None if unknown."""
        state = self._read(job)
        if state is None:
            return None
        if state["status"] in UNFINISHED and not self._owner_alive(state):
            state = {**state, "status": FAILED, "reason": LOST}
        return _public(state)

    @staticmethod
    def _owner_alive(state: dict[str, Any]) -> bool:
        return _alive(state.get("pid"), state.get("pid_start"))

    def artifact(self, job: str) -> Path:
        """Where a job's artifact lives (it may not exist)."""
        where = self._dir(job)
        if where is None:
            raise KeyError(job)
        return where / ARTIFACT

    # --- writing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Excludes other threads and processes that create, delete or sweep jobs."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _save(self, state: dict[str, Any]) -> None:
        where = self.directory / state["id"]
        _write_atomically(where / STATE, json.dumps(state, sort_keys=True, allow_nan=False).encode())

    def submit(self, canonical: dict[str, Any], work: Work, kind: str, nbytes: int = 0) -> tuple[dict[str, Any], bool]:
        """The job for this request, and whether this call created it (queued) rather than found it.
        ``nbytes``: the most its artifact will take on disk, held against the quota while it runs."""
        job = job_id(canonical)
        with self._locked():
            jobs = self._sweep()
            found = jobs.get(job)
            if found is not None:
                done = found["status"] == DONE and self.artifact(job).exists()
                if done or found["status"] in UNFINISHED:
                    return _public(found), False
            with self._lock:
                if self._closing:
                    raise Busy(1)
                if len(self._active) > self.queue:  # one running plus `queue` waiting
                    raise Busy(self._retry_after())
            self._make_room(job, nbytes, jobs)
            with self._lock:
                where = self.directory / job
                where.mkdir(exist_ok=True)
                for stale in (ARTIFACT, CANCEL):
                    (where / stale).unlink(missing_ok=True)
                state = {"id": job, "kind": kind, "status": QUEUED, "request": canonical, "created": _now(),
                         "started": None, "finished": None, "pid": self._pid, "pid_start": self._pid_start,
                         "progress": None, "reason": None, "artifact": None, "expected_bytes": nbytes}  # fmt: skip
                self._save(state)
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="initw-job")
                self._active[job] = _Active(self._executor.submit(self._run, job, work))
        return _public(state), True

    def _make_room(self, job: str, nbytes: int, jobs: dict[str, dict[str, Any]]) -> None:
        """Keep the artifacts within the quota: the oldest finished jobs go first; if the unfinished
        ones' files would still not leave room, raise Full (nothing was removed then). ``jobs``:
        the states the sweep kept, by id."""
        if self.quota_bytes is None:
            return
        finished: list[tuple[str, int, Path]] = []  # (when it finished, its artifact's bytes, its directory)
        pending = 0
        for name, state in jobs.items():
            if name == job:
                continue
            where = self.directory / name
            if state["status"] in UNFINISHED:
                pending += int(state.get("expected_bytes") or 0)
                continue
            try:
                size = (where / ARTIFACT).stat().st_size
            except OSError:
                continue
            finished.append((str(state.get("finished") or ""), size, where))
        if pending + nbytes > self.quota_bytes:
            raise Full(pending + nbytes - self.quota_bytes, self._retry_after())
        used = pending + sum(size for _, size, _ in finished)
        for _, size, where in sorted(finished, key=lambda item: item[0]):
            if used + nbytes <= self.quota_bytes:
                break
            shutil.rmtree(where, ignore_errors=True)
            used -= size

    def _retry_after(self) -> int:
        """Seconds until the running job must have ended (its time limit), at least 1."""
        started = [a.started for a in self._active.values() if a.started is not None]
        left = self.seconds - (time.monotonic() - started[0]) if started else self.seconds
        return max(1, math.ceil(left))

    def _finish(self, state: dict[str, Any], status: str, reason: str | None = None) -> None:
        self._save({**state, "status": status, "reason": reason, "finished": _now()})

    def _run(self, job: str, work: Work) -> None:
        state = self._read(job)
        try:
            if state is None:
                return  # deleted while it waited
            if (self.directory / job / CANCEL).exists():
                self._finish(state, CANCELLED, "cancelled before it started")
                return
            state = {**state, "status": RUNNING, "started": _now()}
            self._save(state)
            self._execute(job, work, state)
        except Exception:  # a failure of the store itself (disk full, directory removed): say so, once
            log.exception("job %s could not be run", job)
        finally:
            with self._lock:
                self._active.pop(job, None)

    def _execute(self, job: str, work: Work, state: dict[str, Any]) -> None:
        with self._lock:  # submit registers the job under this lock, possibly after the thread started
            active = self._active[job]
        active.started = time.monotonic()
        where = self.directory / job

        def should_stop() -> bool:
            self._gate.wait()
            if control.why is None:
                if (where / CANCEL).exists():
                    control.why = "cancelled"
                elif self._closing:
                    control.why = "the server shut down while it ran"
                elif time.monotonic() - (active.started or 0.0) > self.seconds:
                    control.why = f"time limit: it ran longer than {self.seconds:g} s (INITW_JOB_SECONDS)"
            return control.why is not None

        def report(progress: dict[str, Any]) -> None:
            state["progress"] = progress
            self._save(state)

        control = Control(report, should_stop)
        try:
            # The file is written as the work makes it; an error on the way leaves no file.
            size, digest = _write_atomically(where / ARTIFACT, work(control))
        except Exception as error:
            if control.why == "cancelled":
                self._finish(state, CANCELLED, "cancelled while it ran")
            elif control.why is not None:
                self._finish(state, FAILED, f"{control.why}; {error}")
            elif isinstance(error, ValueError):  # the request's own fault (diverged, refused): say why
                self._finish(state, FAILED, str(error))
            else:
                log.exception("job %s failed", job)
                self._finish(
                    state, FAILED, f"an unexpected error occurred ({type(error).__name__}); it has been logged"
                )
            return
        if (where / CANCEL).exists():
            (where / ARTIFACT).unlink(missing_ok=True)
            self._finish(state, CANCELLED, "cancelled while it ran")
            return
        self._save({**state, "status": DONE, "finished": _now(),
                    "artifact": {"size": size, "sha256": digest, "etag": f'"{digest[:40]}"'}})  # fmt: skip

    def cancel(self, job: str) -> bool:
        """Stop a queued or running job, or remove a finished one; False if there is no such job."""
        with self._locked():
            return self._cancel(job)

    def _cancel(self, job: str) -> bool:
        state = self.view(job)
        if state is None:
            return False
        where = self.directory / job
        if state["status"] not in UNFINISHED:
            shutil.rmtree(where, ignore_errors=True)
            return True
        (where / CANCEL).touch()  # the owner, in any process, stops at its next check
        with self._lock:
            active = self._active.get(job)
        if active is not None and active.future.cancel():  # still waiting here: it never runs
            self._finish(state, CANCELLED, "cancelled before it started")
            with self._lock:
                self._active.pop(job, None)
        return True

    # --- tokens: what clients hold ---------------------------------------------------------

    def issue(self, job: str, key: str | None = None) -> str:
        """A token naming ``job`` for one client: 128 random bits; or, for a client's idempotency
        key, the HMAC of the job and the key under this directory's secret, so that the retries of
        one POST (whose answers may have been lost) get the same token and leave no orphan behind,
        while nobody without the secret can derive it. A retry after a DELETE issues the token anew."""
        with self._locked():
            folder = self.directory / TOKENS
            folder.mkdir(exist_ok=True)
            if key is None:
                token = secrets.token_hex(16)
            else:
                token = hmac.new(self._secret(), f"{job}\n{key}".encode(), "sha256").hexdigest()[:32]
            (folder / token).write_text(job)
        return token

    def _secret(self) -> bytes:
        """32 random bytes kept in the directory (every worker process shares them); under the lock."""
        path = self.directory / SECRET
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=f"{SECRET}.", suffix=".part")  # mode 0600
        with os.fdopen(fd, "wb") as file:
            file.write(secrets.token_bytes(32))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
        return path.read_bytes()

    def resolve(self, token: str) -> str | None:
        """The job a client's token names; None for anything else (a withdrawn token included)."""
        if not _ID.fullmatch(token):
            return None  # never a path from the client
        try:
            words = (self.directory / TOKENS / token).read_text().split()
        except OSError:
            return None
        return words[0] if len(words) == 1 and _ID.fullmatch(words[0]) else None

    def _tokens_of(self, job: str) -> list[str]:
        folder = self.directory / TOKENS
        return [path.name for path in (folder.iterdir() if folder.is_dir() else ()) if self.resolve(path.name) == job]

    def withdraw(self, token: str) -> bool:
        """A client gives its job up (DELETE): the token is forgotten at once (it names nothing
        afterwards: a deleted resource is gone, for its client as for HTTP). A queued or running job
        is cancelled once no token names it, and then left to the TTL; a finished job is removed
        with its last token. False if the token names nothing."""
        with self._locked():
            job = self.resolve(token)
            if job is None:
                return False
            (self.directory / TOKENS / token).unlink(missing_ok=True)
            if self.view(job) is not None and not self._tokens_of(job):
                self._cancel(job)  # unfinished: stopped; finished: removed with its artifact
            return True

    # --- lifetime ----------------------------------------------------------------------------

    def _sweep(self) -> dict[str, dict[str, Any]]:
        """Remove what the TTL and dead writers left; the states of the jobs that stay, by id."""
        kept: dict[str, dict[str, Any]] = {}
        if not self.directory.is_dir():
            return kept
        for where in self.directory.iterdir():
            if not _ID.fullmatch(where.name):
                continue
            state = self.view(where.name)
            if state is None or state["status"] not in UNFINISHED:
                # A write that a killed process left half done (service.atomic's temporary files):
                # no live job of this directory will finish it.
                for part in where.glob(".*.part"):
                    part.unlink(missing_ok=True)
            if state is None:
                try:
                    stale = time.time() - where.stat().st_mtime > self.ttl_seconds  # never got a state
                except OSError:
                    continue
            elif state["status"] in UNFINISHED:
                kept[where.name] = state
                continue
            else:
                ended = state.get("finished")
                try:
                    age = _age(ended) if ended else time.time() - (where / STATE).stat().st_mtime
                except OSError:
                    continue
                stale = age > self.ttl_seconds
            if stale:
                shutil.rmtree(where, ignore_errors=True)
            elif state is not None:
                kept[where.name] = state
        tokens = self.directory / TOKENS
        for path in tokens.iterdir() if tokens.is_dir() else ():
            found = self.resolve(path.name)
            if found is None or not (self.directory / found).is_dir():
                path.unlink(missing_ok=True)  # its job was swept (or it is not a token)
        return kept

    def sweep(self) -> None:
        """Remove finished jobs older than the TTL (the app calls it at startup; submit calls it too).
        A directory it cannot use is logged, not raised: the rest of the service still works."""
        try:
            with self._locked():
                self._sweep()
        except OSError as error:
            log.warning("job directory %s: %s", self.directory, error)

    def wait(self, job: str, timeout: float | None = None) -> None:
        """Block until this process's run of the job ends (no-op if it is not running here)."""
        with self._lock:
            active = self._active.get(job)
        if active is not None:
            with contextlib.suppress(CancelledError):  # failures are in the state; _run never raises
                active.future.result(timeout)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold running jobs at their next stop check (for tests: a job that stays running)."""
        self._gate.clear()
        try:
            yield
        finally:
            self._gate.set()

    def shutdown(self) -> None:
        """Stop: waiting jobs fail (shut down before they ran), the running one at its next minibatch."""
        with self._lock:
            self._closing = True
            waiting = [job for job, active in self._active.items() if active.future.cancel()]
        for job in waiting:
            state = self._read(job)
            if state is not None:
                self._finish(state, FAILED, "the server shut down before it ran")
            with self._lock:
                self._active.pop(job, None)
        self._gate.set()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
