"""The contract on what random data rarely reaches: files, shards, byte ranges, conditionals,
representations, plots and a pre-training job's whole life, through the same checks as the fuzzer
(tests/contract/test_fuzz.py), and init bodies drawn to pass the cross-field rules."""

from __future__ import annotations

import base64
import time

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st
from safetensors.numpy import save

from ..spec import strategies as gen
from .published import schema

DEADLINE = 30.0


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
    assert again.status_code == 200 and again.json()["id"] != job  # done: found, not recomputed; a token of its own
    assert again.json()["artifact"] == state["artifact"]
    for token in (job, again.json()["id"]):
        assert send(schema["/pretrain/{job}"]["DELETE"].Case(path_parameters={"job": token})).status_code == 204
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


@pytest.mark.slow  # 60 drawn bodies
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
