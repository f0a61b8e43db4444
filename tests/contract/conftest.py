"""What every contract test shares: an app with small limits, and ``send``, which calls a case in process and runs
every configured check on the answer (tests/contract_checks.py)."""

from __future__ import annotations

import threading

import pytest
from schemathesis.python import asgi

from service.app import create_app
from service.settings import Settings


@pytest.fixture
def app(tmp_path):
    """The service with limits small enough that no generated request makes a big tensor, one per
    test (every example of an operation shares it). The ASGI transport starts its lifespan on the
    first request (warm-up, job sweep); schemathesis's pytest plugin ends it when the test ends,
    which shuts the job store down: no pre-training thread outlives its test."""
    settings = Settings(
        max_elements=1 << 16,
        max_diagnostics_elements=1 << 16,
        memory_bytes=1 << 20,
        json_max_bytes=1 << 20,
        max_body_bytes=1 << 20,
        network_budget=1e7,
        lsuv_budget=1e7,
        pretrain_budget=1e7,
        job_seconds=20.0,
        job_dir=str(tmp_path / "jobs"),
    )
    application = create_app(settings)
    yield application
    asgi.shutdown_lifespans()  # a no-op if the plugin's teardown already ran
    assert application.state.jobs._closing, "the lifespan's shutdown did not stop the job store"
    assert not [t for t in threading.enumerate() if t.name.startswith("initw-job") and t.is_alive()]


@pytest.fixture
def send(app):
    """Call a case in process and run every configured check on the answer.

    schemathesis's ASGI session carries a default ``Accept: */*`` that replaces the ``accept``
    header each case draws (the operations declare it in lower case), so no case would ever ask
    for JSON, an SVG or something unservable (406). Without the default, the case's own is sent.
    Entering the client starts the app's lifespan."""
    with asgi.get_client(app) as session:
        del session.headers["Accept"]
        yield lambda case: case.call_and_validate(app=app, session=session)
