"""What every contract test shares: an app with small limits, and ``send``, which calls a case in process and runs
every configured check on the answer (tests/contract_checks.py)."""

from __future__ import annotations

import threading

import pytest
from schemathesis.python import asgi

from service.app import create_app
from service.settings import Settings

from ..contract_checks import BUDGET, MAX_ELEMENTS


@pytest.fixture
def app(tmp_path):
    """The service with limits small enough that no generated request makes a big tensor, one per
    test (every example of an operation shares it). The ASGI transport starts its lifespan on the
    first request (warm-up, job sweep); schemathesis's pytest plugin ends it when the test ends,
    which shuts the job store down: no pre-training thread outlives its test."""
    settings = Settings(
        max_elements=MAX_ELEMENTS,
        max_diagnostics_elements=MAX_ELEMENTS,
        memory_bytes=1 << 24,
        json_max_bytes=1 << 20,
        max_body_bytes=1 << 20,
        network_budget=BUDGET,
        lsuv_budget=BUDGET,
        pretrain_budget=BUDGET,
        job_seconds=20.0,
        job_queue=1000,  # every generated job is taken (a full queue answers 503)
        job_dir=str(tmp_path / "jobs"),
    )
    application = create_app(settings)
    yield application
    asgi.shutdown_lifespans()  # a no-op if the plugin's teardown already ran
    assert application.state.jobs._closing, "the lifespan's shutdown did not stop the job store"
    assert not [t for t in threading.enumerate() if t.name.startswith("initw-job") and t.is_alive()]


@pytest.fixture
def session(app):
    """schemathesis's ASGI session carries a default ``Accept: */*`` that replaces the ``accept``
    header each case draws (the operations declare it in lower case), so no case would ever ask
    for JSON, an SVG or something unservable (406). Without the default, the case's own is sent.
    Entering the client starts the app's lifespan."""
    with asgi.get_client(app) as client:
        del client.headers["Accept"]
        yield client


@pytest.fixture
def send(app, session):
    """Call a case in process and run every configured check on the answer."""
    return lambda case: case.call_and_validate(app=app, session=session)


@pytest.fixture
def call(app, session):
    """Call a case in process, checking nothing: the answer."""
    return lambda case: case.call(app=app, session=session)
