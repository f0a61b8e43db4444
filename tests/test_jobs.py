"""service.jobs, directly: ids, the run of a job and its state on disk, idempotent resubmission, the
queue bound, cancellation, the time limit, liveness of a job's owner, the sweep, the flock between
stores, and shutdown.

Concurrency is arranged, never timed: a job's work function says when it started and then polls
``should_stop`` between waits on an event, so it runs until the test releases it or the store
tells it to stop; the time limit is driven by a fake clock; mutual exclusion is observed by
probing the lock file's flock from the test, or by holding one store inside its critical
section. Every wait has a hang guard (HANG), which a passing run never reaches.
"""

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service import jobs
from service.jobs import LOST, PRIVATE, Busy, JobStore, job_id

HANG = 60.0  # seconds: a guard against a hang, never a precondition
REQUEST = {"procedure": "test", "seed": 0, "layers": [{"width": 8}]}


class Held:
    """A work function that runs until released (then returns ``blob``) or until should_stop says
    stop (then raises, as a job stopped at a minibatch does). It records each should_stop answer."""

    def __init__(self, blob: bytes = b"the artifact"):
        self.blob = blob
        self.started, self.release, self.ended = threading.Event(), threading.Event(), threading.Event()
        self.answers: list[bool] = []
        self.answered = threading.Condition()
        self.why: str | None = None
        self.calls = 0

    def __call__(self, control: jobs.Control) -> bytes:
        self.calls += 1
        self.started.set()
        try:
            while not self.release.wait(0.001):
                stop = control.should_stop()
                with self.answered:
                    self.answers.append(stop)
                    self.answered.notify_all()
                if stop:
                    self.why = control.why
                    raise RuntimeError("stopped at a minibatch")
            return self.blob
        finally:
            with self.answered:
                self.ended.set()
                self.answered.notify_all()

    def next_answer(self) -> bool:
        """The answer of a should_stop call made wholly after this call began."""
        with self.answered:
            skip = len(self.answers) + 1  # the next answer's call may have begun before now
            assert self.answered.wait_for(lambda: len(self.answers) > skip or self.ended.is_set(), HANG)
            assert len(self.answers) > skip, f"the job ended; it was told {self.answers}"
            return self.answers[skip]


def returning(blob: bytes = b"the artifact"):
    def work(control: jobs.Control) -> bytes:
        control.report({"epoch": 1})
        return blob

    return work


def raising(error: Exception):
    def work(control: jobs.Control) -> bytes:
        raise error

    return work


def request(n: int) -> dict:
    return {**REQUEST, "seed": n}


def started(held: Held) -> None:
    assert held.started.wait(HANG), "the job never started"


def on_disk(store: JobStore, job: str) -> dict:
    return json.loads((store.directory / job / "state.json").read_text())


def write_state(store: JobStore, job: str, **state) -> Path:
    where = store.directory / job
    where.mkdir(parents=True, exist_ok=True)
    (where / "state.json").write_text(json.dumps({"id": job, **state}))
    return where


def stamp(ago: timedelta) -> str:
    return (datetime.now(UTC) - ago).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dead_pid() -> int:
    """The pid of a child this test started and reaped: no process has it (until reused)."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


class FakeClock:
    """Stands in for the ``time`` module inside service.jobs: monotonic time moves only when told."""

    def __init__(self) -> None:
        # Near the real clock (other stores' jobs, if any, see no jump back), and a whole number of
        # seconds, so that the differences the store takes of it are exact.
        self.now = float(math.floor(time.monotonic()))

    def monotonic(self) -> float:
        return self.now

    @staticmethod
    def time() -> float:
        return time.time()


@pytest.fixture
def store(tmp_path):
    store = JobStore(tmp_path / "jobs", seconds=60, ttl_seconds=3600, queue=4)
    yield store
    store.shutdown()


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(jobs, "time", fake)
    return fake


def job_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("initw-job")]


# ----------------------------------------------------------------------------- ids


def test_job_id_is_the_first_32_hex_digits_of_the_sha256_of_the_sorted_compact_request():
    text = json.dumps(REQUEST, sort_keys=True, separators=(",", ":"))
    assert job_id(REQUEST) == hashlib.sha256(text.encode()).hexdigest()[:32]
    reordered = dict(reversed(list(REQUEST.items())))
    assert job_id(reordered) == job_id(REQUEST)


@pytest.mark.parametrize(
    "changed",
    [
        {**REQUEST, "seed": 1},
        {**REQUEST, "layers": [{"width": 9}]},
        {**REQUEST, "extra": None},
        {k: v for k, v in REQUEST.items() if k != "seed"},
        {**REQUEST, "seed": 0.5},
    ],
)
def test_any_change_of_the_request_names_another_job(changed):
    assert job_id(changed) != job_id(REQUEST)


# ----------------------------------------------------------------------------- a run


def test_submit_runs_a_job_to_done_with_its_artifact_and_state_on_disk(store):
    blob = b"\x00safetensors bytes\xff"
    state, created = store.submit(REQUEST, returning(blob), "pretrain")
    job = job_id(REQUEST)
    assert created and state["id"] == job and state["status"] == "queued" and state["kind"] == "pretrain"
    assert state["request"] == REQUEST and "pid" not in state and "pid_start" not in state  # nothing of the host
    store.wait(job, timeout=HANG)
    done = on_disk(store, job)
    assert done["pid"] == os.getpid()  # the owner, on disk for the store's own use
    assert {key: value for key, value in done.items() if key not in PRIVATE} == store.view(job)
    assert done["status"] == "done" and done["reason"] is None and done["progress"] == {"epoch": 1}
    digest = hashlib.sha256(blob).hexdigest()
    assert done["artifact"] == {"size": len(blob), "sha256": digest, "etag": f'"{digest[:40]}"'}
    assert store.artifact(job).read_bytes() == blob
    created_at, started_at, finished_at = (datetime.fromisoformat(done[k]) for k in ("created", "started", "finished"))
    assert created_at <= started_at <= finished_at
    assert not (store.directory / job / "cancel").exists()


def test_a_job_refused_by_its_request_fails_with_the_reason(store):
    store.submit(REQUEST, raising(ValueError("the loss diverged at epoch 3")), "pretrain")
    store.wait(job_id(REQUEST), timeout=HANG)
    state = store.view(job_id(REQUEST))
    assert state["status"] == "failed" and state["reason"] == "the loss diverged at epoch 3"
    assert not store.artifact(job_id(REQUEST)).exists()


def test_an_unexpected_error_fails_the_job_and_is_logged_not_shown(store, caplog):
    with caplog.at_level(logging.ERROR, logger="initw"):
        store.submit(REQUEST, raising(KeyError("secret internals")), "pretrain")
        store.wait(job_id(REQUEST), timeout=HANG)
    state = store.view(job_id(REQUEST))
    assert state["status"] == "failed" and "KeyError" in state["reason"] and "secret" not in state["reason"]
    assert any(job_id(REQUEST) in record.getMessage() and record.exc_info for record in caplog.records)


@pytest.mark.parametrize("job", ["../../etc", "0" * 31, "0" * 33, "G" * 32, "A" * 32])
def test_only_32_lowercase_hex_digits_name_a_job(store, job):
    assert store.view(job) is None and store.cancel(job) is False
    with pytest.raises(KeyError):
        store.artifact(job)


def test_a_state_file_that_is_not_a_state_reads_as_no_job(store):
    job = job_id(REQUEST)
    where = write_state(store, job, status="done")
    assert store.view(job)["status"] == "done"
    (where / "state.json").write_text("{not json")
    assert store.view(job) is None
    (where / "state.json").write_text(json.dumps({"id": job_id(request(1)), "status": "done"}))
    assert store.view(job) is None  # another job's state
    (where / "state.json").write_text(json.dumps({"id": job}))
    assert store.view(job) is None  # no status


def test_waiting_for_a_job_not_running_here_returns_at_once(store):
    store.wait(job_id(REQUEST))  # no such job: returns, no exception


def test_the_default_directory_is_initw_jobs_in_the_temporary_directory():
    assert JobStore().directory == Path(tempfile.gettempdir()) / "initw-jobs"


# ----------------------------------------------------------------------------- idempotence


def test_a_queued_or_running_job_is_found_not_started_again(store):
    first, second = Held(), Held()
    store.submit(request(1), first, "pretrain")
    started(first)
    store.submit(request(2), second, "pretrain")
    assert store.view(job_id(request(2)))["status"] == "queued"
    again = Held()
    running, created_running = store.submit(request(1), again, "pretrain")
    queued, created_queued = store.submit(request(2), again, "pretrain")
    assert (running["status"], created_running) == ("running", False)
    assert (queued["status"], created_queued) == ("queued", False)
    first.release.set()
    second.release.set()
    store.wait(job_id(request(1)), timeout=HANG)
    store.wait(job_id(request(2)), timeout=HANG)
    assert (first.calls, second.calls, again.calls) == (1, 1, 0)


def test_a_done_job_is_found_with_its_artifact(store):
    store.submit(REQUEST, returning(b"first"), "pretrain")
    store.wait(job_id(REQUEST), timeout=HANG)
    state, created = store.submit(REQUEST, raising(AssertionError("must not run")), "pretrain")
    assert not created and state["status"] == "done"
    assert store.artifact(job_id(REQUEST)).read_bytes() == b"first"


def restart_after(store: JobStore, make_finished) -> dict:
    """Bring REQUEST's job to a finished state with ``make_finished``, then post it again."""
    make_finished()
    state, created = store.submit(REQUEST, returning(b"second"), "pretrain")
    assert created and state["status"] == "queued"
    store.wait(job_id(REQUEST), timeout=HANG)
    return store.view(job_id(REQUEST))


def test_a_failed_job_starts_again(store):
    def fail():
        store.submit(REQUEST, raising(ValueError("diverged")), "pretrain")
        store.wait(job_id(REQUEST), timeout=HANG)
        assert store.view(job_id(REQUEST))["status"] == "failed"

    again = restart_after(store, fail)
    assert again["status"] == "done" and again["reason"] is None
    assert store.artifact(job_id(REQUEST)).read_bytes() == b"second"


def test_a_cancelled_job_starts_again_without_its_old_cancel_mark(store):
    blocker = Held()

    def cancel_while_queued():
        store.submit(request(1), blocker, "pretrain")
        started(blocker)
        store.submit(REQUEST, raising(AssertionError("must not run")), "pretrain")
        assert store.cancel(job_id(REQUEST))
        assert store.view(job_id(REQUEST))["status"] == "cancelled"
        blocker.release.set()

    again = restart_after(store, cancel_while_queued)
    assert again["status"] == "done" and not (store.directory / job_id(REQUEST) / "cancel").exists()


def test_a_lost_job_starts_again(store):
    job = job_id(REQUEST)
    again = restart_after(store, lambda: write_state(store, job, status="running", pid=dead_pid(), pid_start=None))
    assert again["status"] == "done" and on_disk(store, job)["pid"] == os.getpid()


def test_a_done_job_whose_artifact_is_gone_starts_again(store):
    def lose_the_artifact():
        store.submit(REQUEST, returning(b"first"), "pretrain")
        store.wait(job_id(REQUEST), timeout=HANG)
        store.artifact(job_id(REQUEST)).unlink()

    assert restart_after(store, lose_the_artifact)["status"] == "done"
    assert store.artifact(job_id(REQUEST)).read_bytes() == b"second"


# ----------------------------------------------------------------------------- the queue bound


def test_beyond_one_running_and_queue_waiting_submit_is_busy_until_the_time_limit(tmp_path, clock):
    store = JobStore(tmp_path / "jobs", seconds=100, queue=1)
    running, waiting = Held(), Held()
    try:
        store.submit(request(1), running, "pretrain")
        started(running)
        store.submit(request(2), waiting, "pretrain")
        clock.now += 30.5
        with pytest.raises(Busy) as refused:
            store.submit(request(3), Held(), "pretrain")
        assert refused.value.retry_after == 70  # the running job's time limit ends in 69.5 s
        assert "retry after 70 s" in str(refused.value)
        assert store.view(job_id(request(3))) is None
        with store.paused():  # held at its next check, the running job cannot reach its limit and end
            clock.now += 1000
            with pytest.raises(Busy) as refused:
                store.submit(request(3), Held(), "pretrain")
        assert refused.value.retry_after == 1  # past its limit, it stops at its next check: at least 1 s
        running.release.set()
        waiting.release.set()
        store.wait(job_id(request(1)), timeout=HANG)
        store.wait(job_id(request(2)), timeout=HANG)
        state, created = store.submit(request(3), returning(), "pretrain")  # room again
        assert created
    finally:
        store.shutdown()


def test_with_no_queue_one_job_runs_and_the_next_is_busy(tmp_path):
    store = JobStore(tmp_path / "jobs", seconds=100, queue=0)
    held = Held()
    try:
        store.submit(request(1), held, "pretrain")
        started(held)
        with pytest.raises(Busy):
            store.submit(request(2), Held(), "pretrain")
        found, created = store.submit(request(1), Held(), "pretrain")  # finding a job needs no room
        assert not created and found["status"] == "running"
    finally:
        held.release.set()
        store.shutdown()


# ----------------------------------------------------------------------------- cancel


def test_cancel_of_a_queued_job_means_it_never_runs(store):
    blocker, queued = Held(), Held()
    store.submit(request(1), blocker, "pretrain")
    started(blocker)
    store.submit(request(2), queued, "pretrain")
    assert store.cancel(job_id(request(2)))
    state = store.view(job_id(request(2)))
    assert state["status"] == "cancelled" and state["reason"] == "cancelled before it started"
    blocker.release.set()
    store.wait(job_id(request(1)), timeout=HANG)
    assert queued.calls == 0 and store.view(job_id(request(2)))["status"] == "cancelled"


def test_cancel_of_a_running_job_stops_it_at_its_next_should_stop(store):
    held = Held()
    store.submit(REQUEST, held, "pretrain")
    started(held)
    assert held.next_answer() is False
    assert store.cancel(job_id(REQUEST))
    assert held.ended.wait(HANG)
    store.wait(job_id(REQUEST), timeout=HANG)
    assert held.answers[-1] is True and not any(held.answers[:-1]) and held.why == "cancelled"
    state = store.view(job_id(REQUEST))
    assert state["status"] == "cancelled" and state["reason"] == "cancelled while it ran"
    assert not store.artifact(job_id(REQUEST)).exists()


def test_a_job_cancelled_while_it_ran_keeps_no_artifact_even_if_it_finished(store):
    finishing = threading.Event()

    def work(control):
        assert finishing.wait(HANG)
        return b"made after the cancel"  # never asked should_stop

    store.submit(REQUEST, work, "pretrain")
    assert store.cancel(job_id(REQUEST))
    finishing.set()
    store.wait(job_id(REQUEST), timeout=HANG)
    assert store.view(job_id(REQUEST))["status"] == "cancelled" and not store.artifact(job_id(REQUEST)).exists()


def test_cancel_of_a_finished_job_removes_it_and_of_an_unknown_one_is_false(store):
    store.submit(REQUEST, returning(), "pretrain")
    store.wait(job_id(REQUEST), timeout=HANG)
    assert store.cancel(job_id(REQUEST))
    assert store.view(job_id(REQUEST)) is None and not (store.directory / job_id(REQUEST)).exists()
    assert store.cancel(job_id(REQUEST)) is False


def test_cancel_of_a_job_running_in_another_process_leaves_the_mark_its_owner_reads(store):
    job = job_id(REQUEST)
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        where = write_state(store, job, status="running", pid=other.pid, pid_start=None)
        assert store.cancel(job)
        assert (where / "cancel").exists() and store.view(job)["status"] == "running"  # its owner finishes it
    finally:
        other.communicate(b"")


# ----------------------------------------------------------------------------- the time limit


def test_the_time_limit_stops_a_running_job_at_its_next_check_with_the_reason(tmp_path, clock):
    store = JobStore(tmp_path / "jobs", seconds=5, queue=1)
    held = Held()
    try:
        store.submit(REQUEST, held, "pretrain")
        started(held)
        assert held.next_answer() is False
        clock.now += 5  # exactly the limit: not beyond it
        assert held.next_answer() is False
        clock.now += 0.001
        store.wait(job_id(REQUEST), timeout=HANG)
        assert held.ended.is_set() and held.answers[-1] is True and not any(held.answers[:-1])
        state = store.view(job_id(REQUEST))
        assert state["status"] == "failed"
        assert state["reason"] == "time limit: it ran longer than 5 s (INITW_JOB_SECONDS); stopped at a minibatch"
    finally:
        store.shutdown()


# ----------------------------------------------------------------------------- liveness


def test_a_running_job_whose_owner_process_is_dead_reads_as_lost(store):
    job = job_id(REQUEST)
    write_state(store, job, status="running", pid=dead_pid(), pid_start=None, reason=None)
    state = store.view(job)
    assert state["status"] == "failed" and state["reason"] == LOST
    assert on_disk(store, job)["status"] == "running"  # a reading, not a write


def test_a_job_whose_owner_pid_was_reused_by_another_process_reads_as_lost(store):
    held = Held()
    store.submit(REQUEST, held, "pretrain")
    started(held)
    job = job_id(REQUEST)
    mine = on_disk(store, job)
    assert mine["pid"] == os.getpid() and store.view(job)["status"] == "running"  # its own start time: alive
    other = {**mine, "id": job_id(request(1)), "pid_start": str(int(mine["pid_start"]) + 1)}
    write_state(store, other["id"], **{k: v for k, v in other.items() if k != "id"})
    assert store.view(other["id"])["status"] == "failed" and store.view(other["id"])["reason"] == LOST
    held.release.set()


@pytest.mark.parametrize("pid", [0, -1, "1234", None, 2.5])
def test_an_owner_that_is_not_a_positive_pid_is_never_alive(store, pid):
    job = job_id(REQUEST)
    write_state(store, job, status="queued", pid=pid, pid_start=None)
    assert store.view(job)["reason"] == LOST


def test_a_queued_job_of_a_live_owner_without_a_start_time_is_not_lost(store):
    job = job_id(REQUEST)
    write_state(store, job, status="queued", pid=os.getpid(), pid_start=None)
    assert store.view(job)["status"] == "queued"


def test_finished_jobs_of_dead_owners_keep_their_state(store):
    job = job_id(REQUEST)
    write_state(store, job, status="done", pid=dead_pid(), pid_start=None, reason=None)
    assert store.view(job)["status"] == "done"


# ----------------------------------------------------------------------------- the sweep


def test_sweep_removes_finished_jobs_older_than_the_ttl_and_keeps_the_rest(store):
    old, young = timedelta(seconds=3600 + 60), timedelta(seconds=3600 - 60)
    kept, removed = {}, {}
    for status in ("done", "failed", "cancelled"):
        removed[status] = write_state(store, job_id(request(len(removed))), status=status, finished=stamp(old))
        kept[status] = write_state(store, job_id(request(10 + len(kept))), status=status, finished=stamp(young))
    # Unfinished jobs of a live owner stay however old; a lost one is finished, aged by its state file.
    kept["running"] = write_state(store, job_id(request(20)), status="running", pid=os.getpid(), pid_start=None,
                                  created=stamp(timedelta(days=30)), finished=None)  # fmt: skip
    removed["lost"] = write_state(store, job_id(request(21)), status="running", pid=dead_pid(), finished=None)
    kept["lost"] = write_state(store, job_id(request(22)), status="running", pid=dead_pid(), finished=None)
    long_ago = time.time() - 3600 - 60
    os.utime(removed["lost"] / "state.json", (long_ago, long_ago))
    # A directory that never got a state file is aged by its own time; other names are not jobs.
    removed["no state"] = store.directory / job_id(request(30))
    removed["no state"].mkdir()
    os.utime(removed["no state"], (long_ago, long_ago))
    kept["no state"] = store.directory / job_id(request(31))
    kept["no state"].mkdir()
    kept["not a job"] = store.directory / "notes"
    kept["not a job"].mkdir()
    os.utime(kept["not a job"], (long_ago, long_ago))

    store.sweep()
    assert {name for name, where in kept.items() if not where.exists()} == set()
    assert {name for name, where in removed.items() if where.exists()} == set()


def test_half_written_files_of_jobs_no_live_process_runs_are_swept_and_a_running_jobs_kept(store):
    """A SIGKILL during a write leaves service.atomic's temporary file (here: a 1 MiB stand-in)."""
    finished = write_state(store, job_id(request(1)), status="done", finished=stamp(timedelta(seconds=1)))
    lost = write_state(store, job_id(request(2)), status="running", pid=dead_pid(), finished=None)
    running = write_state(store, job_id(request(3)), status="running", pid=os.getpid(), pid_start=None,
                          finished=None)  # fmt: skip
    parts = {where: where / ".artifact.safetensors.x1y2.part" for where in (finished, lost, running)}
    for part in parts.values():
        part.write_bytes(bytes(1 << 20))
    store.sweep()
    assert not parts[finished].exists() and not parts[lost].exists()
    assert parts[running].exists()  # its own process may still be writing it
    assert (finished / "state.json").exists() and (lost / "state.json").exists()  # within the TTL: kept


def test_submit_sweeps_first(store):
    old = write_state(store, job_id(request(1)), status="done", finished=stamp(timedelta(hours=2)))
    store.submit(REQUEST, returning(), "pretrain")
    assert not old.exists()
    store.wait(job_id(REQUEST), timeout=HANG)


def test_a_directory_the_sweep_cannot_use_is_logged_not_raised(tmp_path, caplog):
    blocked = tmp_path / "a file"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING, logger="initw"):
        JobStore(blocked / "jobs").sweep()
    assert any(str(blocked / "jobs") in record.getMessage() for record in caplog.records)


def test_sweeping_a_directory_that_does_not_exist_yet_creates_it_empty(tmp_path):
    store = JobStore(tmp_path / "jobs")
    store.sweep()
    assert [p.name for p in store.directory.iterdir()] == [".lock"]


# ----------------------------------------------------------------------------- the flock


@contextlib.contextmanager
def probe(store: JobStore):
    """The lock file, opened on its own (flock locks belong to an open file, so this one conflicts
    with the store's even within one process): ``free()`` says whether no one holds it."""
    store.directory.mkdir(parents=True, exist_ok=True)
    with open(store.directory / ".lock", "a") as handle:

        def free() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(handle, fcntl.LOCK_UN)
            return True

        yield free


def inside(store: JobStore, monkeypatch, error: Exception | None = None):
    """Hold ``store`` inside its critical section (where submit sweeps) until ``leave`` is set."""
    entered, leave = threading.Event(), threading.Event()
    sweep = store._sweep

    def held_sweep():
        entered.set()
        assert leave.wait(HANG)
        if error is not None:
            raise error
        return sweep()

    monkeypatch.setattr(store, "_sweep", held_sweep)
    return entered, leave


def test_submit_holds_the_flock_while_it_decides_and_releases_it_after(store, monkeypatch):
    entered, leave = inside(store, monkeypatch)
    results = []
    thread = threading.Thread(target=lambda: results.append(store.submit(REQUEST, returning(), "pretrain")))
    with probe(store) as free:
        assert free()
        thread.start()
        assert entered.wait(HANG)
        assert not free()  # the store holds it
        leave.set()
        thread.join(HANG)
        assert free()
    assert results[0][1] is True
    store.wait(job_id(REQUEST), timeout=HANG)


def test_the_flock_is_released_when_the_store_fails_inside_it(store, monkeypatch):
    entered, leave = inside(store, monkeypatch, error=OSError("disk gone"))
    failures = []

    def submit():
        try:
            store.submit(REQUEST, returning(), "pretrain")
        except OSError as error:
            failures.append(error)

    thread = threading.Thread(target=submit)
    with probe(store) as free:
        thread.start()
        assert entered.wait(HANG) and not free()
        leave.set()
        thread.join(HANG)
        assert [str(e) for e in failures] == ["disk gone"]
        assert free()
    assert store.view(job_id(REQUEST)) is None


def test_a_store_waits_for_the_flock_held_by_another_and_proceeds_after(store):
    results = []
    store.directory.mkdir(parents=True)
    with open(store.directory / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as another worker process would hold it
        thread = threading.Thread(target=lambda: results.append(store.submit(REQUEST, returning(), "pretrain")))
        thread.start()
        assert store.view(job_id(REQUEST)) is None
        fcntl.flock(held, fcntl.LOCK_UN)
    thread.join(HANG)
    assert results and results[0][1] is True
    store.wait(job_id(REQUEST), timeout=HANG)
    assert store.view(job_id(REQUEST))["status"] == "done"


def test_two_stores_on_one_directory_do_not_both_create_the_same_job(tmp_path, monkeypatch):
    first, second = JobStore(tmp_path / "jobs"), JobStore(tmp_path / "jobs")  # two worker processes' stores
    entered, leave = inside(first, monkeypatch)
    works = [Held(), Held()]
    results: dict[int, tuple] = {}

    def submit(index: int, store: JobStore) -> None:
        results[index] = store.submit(REQUEST, works[index], "pretrain")

    threads = [threading.Thread(target=submit, args=(i, s)) for i, s in enumerate((first, second))]
    try:
        threads[0].start()
        assert entered.wait(HANG)  # the first is inside, and has not looked for the job yet
        threads[1].start()
        leave.set()
        for thread in threads:
            thread.join(HANG)
        assert results[0][1] is True and results[1][1] is False
        assert results[1][0]["id"] == job_id(REQUEST) and results[1][0]["status"] in ("queued", "running")
        started(works[0])
        assert works[1].calls == 0
    finally:
        for work in works:
            work.release.set()
        first.shutdown()
        second.shutdown()


# ----------------------------------------------------------------------------- shutdown


def test_shutdown_stops_the_running_job_fails_the_waiting_ones_and_leaves_no_thread(tmp_path):
    store = JobStore(tmp_path / "jobs", seconds=60, queue=4)
    running, waiting = Held(), Held()
    before = job_threads()  # other stores' (an app of another test module) are not this one's
    store.submit(request(1), running, "pretrain")
    started(running)
    store.submit(request(2), waiting, "pretrain")
    assert len(job_threads()) == len(before) + 1
    store.shutdown()
    assert running.ended.is_set() and running.why == "the server shut down while it ran"
    stopped = store.view(job_id(request(1)))
    assert stopped["status"] == "failed"
    assert stopped["reason"] == "the server shut down while it ran; stopped at a minibatch"
    never = store.view(job_id(request(2)))
    assert never["status"] == "failed" and never["reason"] == "the server shut down before it ran"
    assert waiting.calls == 0
    assert job_threads() == before
    with pytest.raises(Busy) as refused:
        store.submit(request(3), Held(), "pretrain")
    assert refused.value.retry_after == 1


def test_a_store_that_never_ran_a_job_has_no_thread_and_shuts_down(tmp_path):
    before = job_threads()
    store = JobStore(tmp_path / "jobs")
    store.sweep()
    assert job_threads() == before
    store.shutdown()
    assert job_threads() == before


def test_paused_holds_running_jobs_at_their_next_check(store):
    held = Held()
    with store.paused():
        store.submit(REQUEST, held, "pretrain")
        started(held)
        assert store.cancel(job_id(REQUEST))
        assert store.view(job_id(REQUEST))["status"] == "running"  # held at its check, not stopped
    store.wait(job_id(REQUEST), timeout=HANG)
    assert store.view(job_id(REQUEST))["status"] == "cancelled"


def test_tokens_are_unguessable_handles_that_name_a_job_and_nothing_else(store):
    job = job_id(REQUEST)
    first, second = store.issue(job), store.issue(job)
    assert first != second and len(first) == 32 and int(first, 16) >= 0
    assert store.resolve(first) == store.resolve(second) == job
    for bogus in (job, "../" + first, first.upper(), first[:-1], "", "tokens"):
        assert store.resolve(bogus) is None
    assert not store.withdraw(job)  # the job's own id is not a token
    write_state(store, job, status="done", finished=stamp(timedelta(seconds=1)))
    assert store.withdraw(first) and store.resolve(first) is None and store.view(job) is not None
    assert store.withdraw(second) and store.view(job) is None  # removed with its last token
    assert not store.withdraw(second)


def test_an_idempotency_key_gets_the_same_token_each_time_and_nobody_without_the_secret_can_derive_it(store, tmp_path):
    job, other = job_id(REQUEST), job_id(request(2))
    token = store.issue(job, "retry-me")
    assert store.issue(job, "retry-me") == token and store.resolve(token) == job and len(token) == 32
    assert store.issue(job, "another") != token and store.issue(other, "retry-me") != token  # key and job both count
    assert store.issue(job) != token  # no key: random
    secret = store.directory / ".secret"
    assert len(secret.read_bytes()) == 32 and secret.stat().st_mode & 0o777 == 0o600
    elsewhere = JobStore(tmp_path / "elsewhere", seconds=60, ttl_seconds=3600, queue=4)
    try:
        assert elsewhere.issue(job, "retry-me") != token  # another secret, another token
    finally:
        elsewhere.shutdown()
    write_state(store, job, status="done", finished=stamp(timedelta(seconds=1)))
    assert store.withdraw(token) and store.resolve(token) is None  # other tokens keep the job
    assert store.issue(job, "retry-me") == token and store.resolve(token) == job  # posted again: the same token
    assert [p.name for p in store.directory.iterdir() if p.name.startswith(".secret.")] == []  # no temporary left


def test_the_quota_removes_the_oldest_finished_jobs_first_and_refuses_when_running_ones_fill_it(tmp_path):
    store = JobStore(tmp_path / "jobs", seconds=60, ttl_seconds=3600, queue=4, quota_bytes=1000)
    try:
        finished = {}
        for index, ago in enumerate((30, 10, 20)):  # seconds since each finished
            where = write_state(
                store, job_id(request(index + 1)), status="done", finished=stamp(timedelta(seconds=ago))
            )
            (where / "artifact.safetensors").write_bytes(bytes(300))
            finished[ago] = where
        held = Held()
        store.submit(REQUEST, held, "pretrain", nbytes=350)  # 900 held + 350: the oldest (30 s) goes
        assert not finished[30].exists() and finished[20].exists() and finished[10].exists()
        started(held)
        with pytest.raises(jobs.Full) as full:  # 350 running + 700 asked: short of 50 even with no finished job
            store.submit(request(7), returning(), "pretrain", nbytes=700)
        assert full.value.missing == 50 and "50 bytes" in str(full.value)
        assert finished[20].exists() and finished[10].exists()  # nothing removed for a job that cannot fit
        store.submit(request(8), returning(), "pretrain", nbytes=600)  # both finished ones make way, oldest first
        assert not finished[20].exists() and not finished[10].exists()
        held.release.set()
    finally:
        store.shutdown()
