"""service.routes.common: GET routes that answer HEAD too, the app-wide dependencies and the
documented error answers; each test defines its small app inline."""

import threading

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse
from starlette.testclient import TestClient

from service.admission import Admission, MemoryBudget
from service.middleware import HeadWithoutBody
from service.problems import ProblemError
from service.representation import Remembered
from service.routes.common import (
    RememberedDep,
    ReservationDep,
    SettingsDep,
    get,
    offload,
    problem_responses,
    reservation_of,
)
from service.settings import Settings


def test_get_registers_the_endpoint_for_get_and_an_undocumented_head():
    router = APIRouter()

    @get(router, "/thing", response_class=PlainTextResponse, summary="a thing")
    def thing() -> str:
        return "the thing"

    app = FastAPI()
    app.include_router(router)
    app.add_middleware(HeadWithoutBody)
    routes = {(tuple(sorted(r.methods)), r.name): r for r in router.routes}
    assert set(routes) == {(("GET",), "thing"), (("HEAD",), "thing_head")}
    assert routes[(("GET",), "thing")].include_in_schema and not routes[(("HEAD",), "thing_head")].include_in_schema
    assert routes[(("HEAD",), "thing_head")].response_class is PlainTextResponse
    assert list(app.openapi()["paths"]["/thing"]) == ["get"]
    with TestClient(app) as client:
        got, head = client.get("/thing"), client.head("/thing")
    assert got.text == "the thing" and head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"] == "text/plain; charset=utf-8"
    assert head.headers["content-length"] == got.headers["content-length"]


def test_the_dependencies_are_the_apps_settings_memory_and_the_requests_reservation():
    budget = MemoryBudget(1 << 20, 0.0)
    app = FastAPI()
    app.state.settings, app.state.remembered = Settings(port=1234), Remembered(1 << 10)
    seen = {}

    @app.get("/probe")
    def probe(settings: SettingsDep, remembered: RememberedDep, reservation: ReservationDep) -> dict:
        reservation.reserve(4096, "a probe")
        seen["reservation"] = reservation
        return {"port": settings.port, "total": remembered.total_bytes, "in_use": budget.in_use}

    app.add_middleware(Admission, budget=budget)
    with TestClient(app) as client:
        assert client.get("/probe").json() == {"port": 1234, "total": 1 << 10, "in_use": 4096}
    assert budget.in_use == 0 and seen["reservation"].nbytes == 0  # given back when the request ended


def test_reservation_of_reads_the_one_admission_put_in_the_scope():
    app = FastAPI()
    budget = MemoryBudget(1 << 20, 0.0)

    @app.get("/compare")
    def compare(request: Request, reservation: ReservationDep) -> bool:
        return reservation_of(request) is reservation

    app.add_middleware(Admission, budget=budget)
    with TestClient(app) as client:
        assert client.get("/compare").json() is True


def test_problem_responses_describe_each_status_and_say_why_for_408_and_503():
    documented = problem_responses(404, 408, 503)
    assert list(documented) == [404, 408, 503]
    assert documented[404] == {"description": "Not Found"}  # the reason phrase, where there is nothing to add
    assert "INITW_BODY_SECONDS" in documented[408]["description"]
    assert "Retry-After" in documented[503]["description"] and "memory budget" in documented[503]["description"]


def test_offload_runs_inline_work_on_the_loop_and_moves_work_that_would_wait_to_a_thread():
    """Inline work never blocks the event loop: where its reservation finds no room it is redone in a
    worker thread, which waits for memory as every request does (here: until the queue wait ends)."""
    budget = MemoryBudget(1 << 20, 0.0)
    app = FastAPI()
    ran = []

    @app.get("/work")
    async def work(reservation: ReservationDep, inline: bool, nbytes: int) -> dict:
        def compute() -> dict:
            ran.append(threading.current_thread())
            reservation.reserve(nbytes, "the work")
            return {"waits": reservation.waits}

        return await offload(compute, reservation, inline)

    app.add_middleware(Admission, budget=budget)
    with TestClient(app) as client:
        loop_thread = client.portal.call(threading.current_thread)  # the thread the app's event loop runs in
        assert client.get("/work", params={"inline": True, "nbytes": 10}).json() == {"waits": False}
        assert client.get("/work", params={"inline": False, "nbytes": 10}).json() == {"waits": True}
        budget.reserve(1 << 20, "someone else")  # the budget is full: inline work would wait
        with pytest.raises(ProblemError) as refused:  # decided in the thread, after its queue wait (0 s here)
            client.get("/work", params={"inline": True, "nbytes": 10})
    assert refused.value.status == 503
    assert [thread is loop_thread for thread in ran] == [True, False, True, False]
