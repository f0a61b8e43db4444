"""Liveness, readiness, versions."""

import numpy as np
from starlette.testclient import TestClient

from service import __version__
from service.app import create_app


def test_health_ready_and_version(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    budget = ready["memory_budget"]
    assert budget["bytes"] == client.app.state.settings.memory_budget_bytes
    assert budget["in_use"] == 0 <= budget["refused"]  # nothing else is in flight
    assert budget["peak"] <= budget["bytes"]
    version = client.get("/version").json()
    assert version["service"] == __version__ and version["algorithm"] == "initw-v1"
    assert version["numpy"] == np.__version__


def test_not_ready_before_the_warm_up():
    app = create_app()
    client = TestClient(app)  # not entered: the lifespan (warm-up) has not run
    r = client.get("/readyz")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert client.get("/healthz").status_code == 200


def test_every_get_route_answers_head_with_its_headers_and_no_body(client):
    paths = ["/healthz", "/readyz", "/version", "/schemes", "/schemes/he_normal", "/init?shape=8,8&scheme=orthogonal"]
    for path in paths:
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"" and head.headers["content-length"] == str(len(got.content)), path


def test_version_and_readiness_say_which_path_computes_the_values(client):
    from service.core import kernels

    expected = kernels.describe()
    assert client.get("/version").json()["kernels"] == expected
    assert client.get("/readyz").json()["kernels"] == expected
    with kernels.numpy():
        assert client.get("/version").json()["kernels"] == {"path": "numpy", "reason": "INITW_KERNELS=numpy"}


def test_the_start_up_log_names_the_path(caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="initw"), TestClient(create_app()):
        pass
    lines = [record.getMessage() for record in caplog.records if record.name == "initw"]
    assert any(line.startswith("initw-v1 values: path=") for line in lines), lines
