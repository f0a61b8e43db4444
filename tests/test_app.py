"""service.app: create_app wires the routers, the handlers and the middleware from the settings;
its lifespan makes the job store (sweeping what expired), says ready, and shuts the store down."""

import json
import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Match
from starlette.testclient import TestClient

from service import __version__
from service.admission import Admission
from service.app import DESCRIPTION, app, create_app
from service.handlers import HANDLERS
from service.jobs import Busy, JobStore, job_id
from service.middleware import BodyGuard, HeadWithoutBody
from service.routes import ROUTERS
from service.settings import Settings


def declared(router) -> set[tuple[str, str]]:
    """(path, method) of each route a router declares, path parameters filled in."""
    return {(re.sub(r"\{[^}]*\}", "0" * 32, route.path), method) for route in router.routes for method in route.methods}


def served(built: FastAPI, path: str, method: str) -> bool:
    scope = {"type": "http", "path": path, "method": method, "root_path": "", "headers": [], "query_string": b""}
    return any(route.matches(scope)[0] is Match.FULL for route in built.router.routes)


@pytest.fixture
def settings(tmp_path):
    return Settings(job_dir=str(tmp_path / "jobs"), job_seconds=12.0, job_ttl_seconds=60.0, job_queue=2,
                    cache_bytes=1 << 16, cache_file_bytes=1 << 12, memory_budget_bytes=1 << 25)  # fmt: skip


def test_every_route_of_every_router_is_served(settings):
    built = create_app(settings)
    routes = set().union(*(declared(router) for router in ROUTERS))
    assert {("/init", "POST"), ("/init", "HEAD"), ("/pretrain/" + "0" * 32, "DELETE")} <= routes
    assert [route for route in sorted(routes) if not served(built, *route)] == []
    assert not served(built, "/init", "PATCH") and not served(built, "/nowhere", "GET")


def test_the_handlers_and_the_state_come_from_the_settings(settings):
    built = create_app(settings)
    assert all(built.exception_handlers[kind] is handler for kind, handler in HANDLERS.items())
    assert built.state.settings is settings and built.state.ready is False
    assert (built.state.remembered.total_bytes, built.state.remembered.file_bytes) == (1 << 16, 1 << 12)
    assert (built.state.budget.total, built.state.budget.wait_seconds) == (1 << 25, settings.queue_seconds)


def test_the_middleware_is_admission_body_guard_and_head_and_cors_only_when_asked(settings):
    def middleware(built: FastAPI) -> dict:
        return {m.cls: m.kwargs for m in built.user_middleware}

    plain = middleware(create_app(settings))
    assert set(plain) == {Admission, BodyGuard, HeadWithoutBody}
    assert plain[BodyGuard] == {"max_bytes": settings.max_body_bytes, "seconds": settings.body_seconds}
    assert plain[Admission]["send_seconds"] == settings.send_seconds
    cors = middleware(
        create_app(settings.model_copy(update={"cors_origins": " https://a.example, ,https://b.example"}))
    )
    assert cors[CORSMiddleware]["allow_origins"] == ["https://a.example", "https://b.example"]


def test_the_lifespan_makes_a_swept_store_says_ready_and_shuts_the_store_down(settings):
    built = create_app(settings)
    expired = job_id({"an": "old job"})
    where = os.path.join(settings.job_dir, expired)
    os.makedirs(where)
    finished = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    with open(where + "/state.json", "w") as state:
        json.dump({"id": expired, "status": "done", "finished": finished}, state)
    with TestClient(built) as client:
        store = built.state.jobs
        assert isinstance(store, JobStore) and built.state.ready is True
        assert str(store.directory) == settings.job_dir
        assert (store.seconds, store.ttl_seconds, store.queue) == (12.0, 60.0, 2)
        assert not os.path.exists(where)  # swept at startup: it finished more than the TTL ago
        assert client.get("/readyz").status_code == 200
    with pytest.raises(Busy):  # shut down: it takes no more jobs
        store.submit({"a": "job"}, lambda control: b"", "test")
    with TestClient(built):
        assert built.state.jobs is not store  # started again, it takes jobs again


def test_it_is_initw_with_its_contract_and_no_slash_redirects(client):
    document = client.app.openapi()
    assert document["info"]["title"] == "initw" and document["info"]["version"] == __version__
    assert document["info"]["description"] == DESCRIPTION
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert "post_init" in operations  # operation ids are the route names
    r = client.get("/schemes/", follow_redirects=False)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_the_module_level_app_is_made_from_the_environment():
    assert isinstance(app, FastAPI) and isinstance(app.state.settings, Settings)
