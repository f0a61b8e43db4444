"""Fuzzing against the published contract: schemathesis over the committed openapi.json, calling
the app in process, positive and negative data, every operation.

What users read (openapi.json; tests/test_openapi.py keeps it equal to the app's schema) is what
is fuzzed. The configuration is the repository's schemathesis.toml, the one the CLI reads against
a live server: its seed, generation mode, disabled checks (with the reasons) and custom checks
(tests/contract_checks.py: safetensors bodies match Repr-Digest, every 4xx is a problem). Here
fewer examples per operation keep the file well under a minute on two cores.
"""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path

import hypothesis
import numpy as np
import pytest
import schemathesis
from hypothesis import strategies as st
from safetensors.numpy import save
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi

from service.app import create_app
from service.settings import Settings

from .spec import strategies as gen

ROOT = Path(__file__).parents[1]
CONFIG = SchemathesisConfig.from_path(ROOT / "schemathesis.toml")  # imports tests.contract_checks
schema = schemathesis.openapi.from_path(ROOT / "openapi.json", config=CONFIG)
EXAMPLES = 25  # fuzzed cases per operation, after the examples and coverage phases
DEADLINE = 30.0


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


# numpy's floating-point warnings (a float32 file of gain 1e39 overflows to inf, as IEEE says; the
# diagnostics of a tensor whose values underflow to 0 divide 0 by 0) are errors under this
# project's pytest settings but only warnings in the server: here, as there, the answer is judged.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no replay of earlier runs' failures: CI sees the same cases every time
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_every_operation_keeps_the_contract(case, send):
    send(case)


def _data(rows: int = 16, width: int = 8) -> str:
    x = (np.arange(rows * width, dtype=np.float32).reshape(rows, width) % 7) / 7
    return base64.b64encode(save({"data": x})).decode()


def test_a_pretraining_job_keeps_the_contract_from_post_to_delete(send):
    """Random data is never a base64 safetensors file, so the fuzzer alone never creates a job:
    one real job, through the same checks, from POST to its artifact and DELETE."""
    body = {"seed": 3, "input_width": 8, "layers": [{"width": 4}], "data": _data(), "epochs": 2}
    created = send(schema["/pretrain"]["POST"].Case(body=body))
    assert created.status_code in (200, 202)
    job = created.json()["id"]
    status = schema["/pretrain/{job}"]["GET"].Case(path_parameters={"job": job})
    deadline = time.monotonic() + DEADLINE
    while (state := send(status).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, state
        time.sleep(0.05)
    assert state["status"] == "done", state
    artifact = schema["/pretrain/{job}/artifact"]["GET"]
    assert send(artifact.Case(path_parameters={"job": job})).status_code == 200  # safetensors (custom check)
    cached = artifact.Case(path_parameters={"job": job}, headers={"if-none-match": state["artifact"]["etag"]})
    assert send(cached).status_code == 304
    again = send(schema["/pretrain"]["POST"].Case(body=body))
    assert again.status_code == 200 and again.json()["id"] == job  # done: found, not recomputed
    assert send(schema["/pretrain/{job}"]["DELETE"].Case(path_parameters={"job": job})).status_code == 204
    assert send(status).status_code == 404  # a problem (custom check)


SHORT = {"seed": 1, "shape": [8, 4], "scheme": "normal"}
QUERY = {"shape": "8,4", "scheme": "normal", "seed": "1"}
NETWORK = {"input_width": 8, "batch": 16, "layers": [{"width": 8, "activation": "tanh", "scheme": "orthogonal"}]}
LSUV = {"input_width": 8, "batch": 16, "layers": [{"width": 8}]}
JSON = {"accept": "application/json"}
SVG = {"accept": "image/svg+xml"}


@pytest.mark.parametrize(
    "path, method, parts, status",
    [
        ("/init", "POST", {"body": SHORT}, 200),
        ("/init", "POST", {"body": {**SHORT, "dtype": "bfloat16"}}, 200),
        ("/init", "POST", {"body": SHORT, "headers": JSON}, 200),
        ("/init", "POST", {"body": SHORT, "query": {"start": "3", "stop": "11"}}, 200),
        ("/init", "POST", {"body": SHORT, "headers": {"if-none-match": "*"}}, 412),
        ("/init", "POST", {"body": SHORT, "headers": {"accept": "image/png"}}, 406),
        ("/init", "GET", {"query": QUERY}, 200),
        ("/init", "GET", {"query": QUERY, "headers": JSON}, 200),
        ("/init", "GET", {"query": {**QUERY, "start": "0", "stop": "5"}}, 200),
        ("/init", "GET", {"query": QUERY, "headers": {"if-none-match": "*"}}, 304),
        ("/init", "GET", {"query": QUERY, "headers": {"range": "bytes=0-7"}}, 206),
        ("/init", "GET", {"query": QUERY, "headers": {"range": "bytes=0-7,16-31"}}, 206),
        ("/init", "GET", {"query": QUERY, "headers": {"range": "bytes=999999-"}}, 416),
        ("/diagnostics", "POST", {"body": SHORT}, 200),
        ("/diagnostics", "POST", {"body": SHORT, "headers": SVG}, 200),
        ("/diagnostics/network", "POST", {"body": NETWORK}, 200),
        ("/diagnostics/network", "POST", {"body": NETWORK, "headers": SVG}, 200),
        ("/init/lsuv", "POST", {"body": LSUV}, 200),
        ("/init/lsuv", "POST", {"body": LSUV, "headers": JSON}, 200),
        ("/schemes/{name}", "GET", {"path_parameters": {"name": "he_normal"}}, 200),
    ],
)
def test_answers_random_data_rarely_reaches_keep_the_contract(send, path, method, parts, status):
    """Files, shards, byte ranges, conditionals, representations and plots, through the same checks."""
    assert send(schema[path][method].Case(**parts)).status_code == status


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@hypothesis.settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(hypothesis.HealthCheck)
)
@hypothesis.given(body=gen.init_bodies(plannable=True), accept=st.sampled_from([None, "application/json", "*/*"]))
def test_any_valid_init_body_is_a_file_whose_digest_matches_or_a_problem(send, body, accept):
    """The schema's own generator seldom draws a body whose cross-field rules hold: these do, so
    the file answers (digest, safetensors) are checked for every scheme, layer and dtype."""
    case = schema["/init"]["POST"].Case(body=body, headers={"accept": accept} if accept else {})
    assert send(case).status_code in (200, 413, 422)
