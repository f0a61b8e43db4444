"""The memory budget: reservations wait, are refused with 503 + Retry-After, and are always given
back when the request ends, whatever way it ends."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
from starlette.testclient import TestClient

from service.admission import MemoryBudget
from service.app import create_app
from service.problems import ProblemError
from service.settings import Settings

MIB = 1 << 20
SMALL = {"seed": 3, "shape": [64, 64], "scheme": "kaiming_normal"}
BIG = {"seed": 3, "shape": [1024, 1024], "scheme": "normal"}  # 4 MiB: held in memory by default


def test_a_reservation_that_fits_is_taken_and_given_back() -> None:
    budget = MemoryBudget(100, wait_seconds=0)
    assert budget.reserve(60, "a") == 60 and budget.in_use == 60
    budget.give_back(60)
    assert budget.in_use == 0 and budget.peak == 60


def test_no_room_is_a_503_with_retry_after_after_the_wait() -> None:
    budget = MemoryBudget(100, wait_seconds=0.2)
    budget.reserve(60, "first")
    started = time.monotonic()
    with pytest.raises(ProblemError) as refused:
        budget.reserve(50, "second")
    waited = time.monotonic() - started
    assert refused.value.status == 503 and refused.value.kind == "busy"
    assert refused.value.headers == {"Retry-After": "1"}
    assert "INITW_MEMORY_BUDGET_BYTES" in refused.value.detail
    # Not refused before its wait; how much later is up to the machine's load (the refusal itself
    # shows the wait ended).
    assert waited >= 0.2 - 1e-3  # a millisecond for the timeout's conversion to the lock's clock
    assert budget.in_use == 60 and budget.refused == 1


class WatchedRoom(threading.Condition):
    """The budget's condition, telling when a reservation starts waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        # Set while the lock is still held: whoever takes it next finds the waiter waiting.
        self.waiting.set()
        return super().wait(timeout)


def test_a_waiting_request_goes_ahead_as_soon_as_room_is_given_back() -> None:
    budget = MemoryBudget(100, wait_seconds=600)  # far beyond the test: only a give_back can wake it
    budget._room = room = WatchedRoom()
    budget.reserve(80, "first")
    got: list[float] = []

    def second() -> None:
        started = time.monotonic()
        budget.reserve(50, "second")
        got.append(time.monotonic() - started)

    waiter = threading.Thread(target=second, daemon=True)
    waiter.start()
    assert room.waiting.wait(60), "the second reservation never waited"
    assert not got and budget.in_use == 80  # blocked: no room yet
    budget.give_back(80)
    waiter.join(60)
    assert got and got[0] < 600 and budget.in_use == 50  # woken by the give_back, not by its timeout


def test_a_request_larger_than_the_budget_waits_until_it_is_alone() -> None:
    budget = MemoryBudget(100, wait_seconds=0.1)
    assert budget.reserve(1000, "huge") == 100  # alone: admitted, counted as the whole budget
    with pytest.raises(ProblemError):
        budget.reserve(1, "tiny")
    budget.give_back(100)
    budget.reserve(1, "tiny")
    with pytest.raises(ProblemError):
        budget.reserve(1000, "huge")  # not alone any more


@pytest.fixture
def tight(tmp_path):
    settings = Settings(memory_budget_bytes=64 * MIB, queue_seconds=0.2, job_dir=str(tmp_path))
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_full_budget_answers_503_problem_and_recovers(tight) -> None:
    budget = tight.app.state.budget
    before = tight.post("/init", json=BIG)
    assert before.status_code == 200 and budget.in_use == 0
    budget.reserve(budget.total, "someone else")  # every byte taken
    try:
        busy = tight.post("/init", json={**BIG, "seed": 4})
        assert busy.status_code == 503
        assert busy.headers["content-type"] == "application/problem+json"
        assert busy.headers["retry-after"] == "1"
        assert busy.json()["type"].endswith("/busy")
        for path, body in (("/diagnostics", BIG), ("/init?tensor=weight&start=0&stop=10", BIG)):
            assert tight.post(path, json=body).status_code == 503
        assert tight.get("/init", params={"shape": "64,64", "scheme": "normal", "seed": 9}).status_code == 503
        assert tight.get("/healthz").status_code == 200  # cheap answers need no memory
    finally:
        budget.give_back(budget.total)
    after = tight.post("/init", json={**BIG, "seed": 4})
    assert after.status_code == 200
    assert budget.in_use == 0


def test_cached_repeats_need_no_reservation(tight) -> None:
    first = tight.post("/init", json=SMALL)
    budget = tight.app.state.budget
    budget.reserve(budget.total, "someone else")
    try:
        again = tight.post("/init", json=SMALL)
    finally:
        budget.give_back(budget.total)
    assert again.status_code == 200 and again.content == first.content


@pytest.mark.parametrize(
    "request_",
    [
        {"method": "POST", "url": "/init", "json": BIG},
        {"method": "POST", "url": "/init", "json": BIG, "headers": {"accept": "application/json"}},
        {"method": "POST", "url": "/diagnostics", "json": BIG},
        {"method": "GET", "url": "/init?shape=512,512&scheme=orthogonal", "headers": {"range": "bytes=0-99,200-299"}},
        {
            "method": "POST",
            "url": "/diagnostics/network",
            "json": {
                "seed": 0,
                "input_width": 64,
                "batch": 32,
                "layers": [{"width": 64, "activation": "tanh", "scheme": "xavier_normal"}] * 3,
            },
        },  # fmt: skip
        {
            "method": "POST",
            "url": "/init/lsuv",
            "json": {"seed": 0, "input_width": 32, "batch": 16, "layers": [{"width": 32, "activation": "relu"}] * 2},
        },
    ],
)
def test_every_reservation_is_given_back_when_the_response_ends(tight, request_) -> None:
    budget = tight.app.state.budget
    peak = budget.peak
    response = tight.request(**request_)
    assert response.status_code in (200, 206), response.text
    assert budget.in_use == 0
    assert budget.peak > peak or peak > 0  # something was reserved on the way


def test_a_streamed_response_keeps_its_reservation_until_sent(tmp_path) -> None:
    settings = Settings(memory_budget_bytes=256 * MIB, memory_bytes=0, queue_seconds=0, job_dir=str(tmp_path))
    app = create_app(settings)
    with TestClient(app) as client:
        budget = app.state.budget
        seen: list[int] = []
        with client.stream("POST", "/init", json={**BIG, "shape": [2048, 2048]}) as response:
            digest = hashlib.sha256()
            for chunk in response.iter_bytes():
                seen.append(budget.in_use)
                digest.update(chunk)
        assert response.status_code == 200
        assert min(seen) > 0  # held while the body was still being sent
        assert budget.in_use == 0
        assert response.headers["repr-digest"].startswith("sha-256=")


async def _drive(app, body: bytes, receive_after_body) -> list[dict]:
    """One POST /init through the whole ASGI stack; after the body, ``receive_after_body()`` says
    what the client does next (its disconnect, when the test arranges it)."""
    sent: list[dict] = []
    delivered = False

    async def receive():
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive_after_body()

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/init", "raw_path": b"/init", "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80), "headers": [(b"content-type", b"application/json"),
                                                      (b"content-length", str(len(body)).encode())]}  # fmt: skip
    await app(scope, receive, send)
    return sent


def test_a_client_that_leaves_stops_its_work_at_the_next_chunk_and_frees_its_memory(monkeypatch) -> None:
    """The precondition is arranged, not timed: the first generation call waits until the client's
    disconnect has cancelled the request's token; nothing after it may generate anything."""
    import anyio

    from service import admission
    from service.core import artifact, cancel, generate

    tokens: list[cancel.Token] = []

    class Recorded(cancel.Token):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            tokens.append(self)

    monkeypatch.setattr(admission.cancel, "Token", Recorded)
    started, generated = threading.Event(), []
    real = generate.generate

    def generate_once_the_client_left(*args, **kwargs):
        if cancel.current() is None:  # the app's warm-up at start, outside any request
            return real(*args, **kwargs)
        started.set()
        deadline = time.monotonic() + 60
        while not tokens[-1].cancelled and time.monotonic() < deadline:
            time.sleep(0.001)
        values = real(*args, **kwargs)  # the token is cancelled: its first part raises Cancelled
        generated.append(values.size)
        return values

    monkeypatch.setattr(artifact, "generate", generate_once_the_client_left)
    app = create_app(Settings(memory_budget_bytes=256 * MIB))

    async def leave_once_work_started():
        await anyio.to_thread.run_sync(started.wait, 60)
        return {"type": "http.disconnect"}

    async def main():
        async with app.router.lifespan_context(app):
            body = b'{"seed": 1, "shape": [2048, 2048], "scheme": "normal"}'  # 16 MiB: computed in a thread
            return await _drive(app, body, leave_once_work_started)

    sent = anyio.run(main)
    assert started.is_set() and tokens and tokens[-1].cancelled
    assert generated == []  # stopped inside the first chunk it reached after the disconnect
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] != [200]
    assert app.state.budget.in_use == 0  # given back when the request ended


def test_work_past_its_deadline_is_a_503_deadline_exceeded(monkeypatch) -> None:
    from service.core import artifact, cancel

    real = artifact.generate

    def late(*args, **kwargs):
        token = cancel.current()
        if token is None:  # the app's warm-up at start, outside any request
            return real(*args, **kwargs)
        assert token.seconds == 0.5
        token.deadline = time.monotonic() - 1  # the precondition, arranged: the deadline has passed
        token.check()
        raise AssertionError("not stopped")

    monkeypatch.setattr(artifact, "generate", late)
    with TestClient(create_app(Settings(request_seconds=0.5))) as client:
        answer = client.post("/init", json={"seed": 1, "shape": [512, 512], "scheme": "normal"})
        assert answer.status_code == 503 and answer.json()["type"].endswith("deadline-exceeded")
        assert "INITW_REQUEST_SECONDS" in answer.json()["detail"]
        assert client.get("/readyz").json()["memory_budget"]["in_use"] == 0
