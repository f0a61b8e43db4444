"""service.handlers: every error becomes an RFC 9457 problem (application/problem+json): status,
field path, what is allowed; nothing leaves as a bare 500. A corpus of bad requests through the
app, then each handler on an inline app."""

import json
import logging

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from service.core.errors import InitError
from service.handlers import HANDLERS, problem
from service.problems import PROBLEM, ProblemError

J = {"content-type": "application/json"}
ONE = {"seed": 0, "shape": [4, 4], "scheme": "normal"}


def with_(**changes):
    return json.dumps({**ONE, **changes})


CORPUS = [
    # (label, method, url, raw body, headers, status, field)
    ("malformed json", "POST", "/init", "{seed: 0", J, 400, None),
    ("truncated json", "POST", "/init", '{"seed": 0, "shape": [4,', J, 400, None),
    ("not utf-8", "POST", "/init", b'{"seed": "\xff\xfe"}', J, 400, None),
    ("empty body", "POST", "/init", "", J, 400, None),
    ("array body", "POST", "/init", "[1, 2]", J, 422, "body"),
    ("text/plain", "POST", "/init", with_(), {"content-type": "text/plain"}, 415, None),
    ("no content type", "POST", "/init", with_(), {}, 415, None),
    ("accept html", "POST", "/init", with_(), {**J, "accept": "text/html"}, 406, None),
    ("nothing to do", "POST", "/init", '{"seed": 0}', J, 422, "body"),
    ("seed negative", "POST", "/init", with_(seed=-1), J, 422, "seed"),
    ("seed 2^64", "POST", "/init", with_(seed=2**64), J, 422, "seed"),
    ("seed bool", "POST", "/init", with_(seed=True), J, 422, "seed"),
    ("seed string", "POST", "/init", with_(seed="1"), J, 422, "seed"),
    ("seed float", "POST", "/init", with_(seed=1.5), J, 422, "seed"),
    ("dim zero", "POST", "/init", with_(shape=[4, 0]), J, 422, "shape.1"),
    ("dim negative", "POST", "/init", with_(shape=[-4]), J, 422, "shape.0"),
    ("dim bool", "POST", "/init", with_(shape=[True, 4]), J, 422, "shape.0"),
    ("dim string", "POST", "/init", with_(shape=["4", 4]), J, 422, "shape.0"),
    ("dim huge", "POST", "/init", with_(shape=[2**41]), J, 422, "shape.0"),
    ("rank 9", "POST", "/init", with_(shape=[1] * 9), J, 422, "shape"),
    ("elements overflow", "POST", "/init", with_(shape=[2**40, 2**40, 2**40]), J, 413, None),
    ("too many elements", "POST", "/init", with_(shape=[100000, 100000]), J, 413, None),
    ("unknown scheme", "POST", "/init", with_(scheme="xavier"), J, 422, "scheme"),
    ("scheme number", "POST", "/init", with_(scheme=5), J, 422, "scheme"),
    ("unknown parameter", "POST", "/init", with_(scheme={"name": "normal", "sdt": 1}), J, 422, "scheme.sdt"),
    ("std zero", "POST", "/init", with_(scheme={"name": "normal", "std": 0}), J, 422, "scheme.std"),
    (
        "std nan",
        "POST",
        "/init",
        '{"seed": 0, "shape": [4, 4], "scheme": {"name": "normal", "std": NaN}}',
        J,
        422,
        "scheme.std",
    ),
    (
        "mean infinity",
        "POST",
        "/init",
        '{"seed": 0, "shape": [4], "scheme": {"name": "normal", "mean": Infinity}}',
        J,
        422,
        "scheme.mean",
    ),
    ("a >= b", "POST", "/init", with_(scheme={"name": "uniform", "a": 1, "b": 0}), J, 422, "scheme.b"),
    ("bad mode", "POST", "/init", with_(scheme={"name": "kaiming_uniform", "mode": "fan_max"}), J, 422, "scheme.mode"),
    (
        "bad nonlinearity",
        "POST",
        "/init",
        with_(scheme={"name": "kaiming_uniform", "nonlinearity": "gelu"}),
        J,
        422,
        "scheme.nonlinearity",
    ),
    ("sparsity 1", "POST", "/init", with_(scheme={"name": "sparse", "sparsity": 1}), J, 422, "scheme.sparsity"),
    ("missing sparsity", "POST", "/init", with_(scheme={"name": "sparse"}), J, 422, "scheme.sparsity"),
    ("eye 3-d", "POST", "/init", with_(shape=[2, 2, 2], scheme="eye"), J, 422, "shape"),
    ("dirac 2-d", "POST", "/init", with_(shape=[2, 2], scheme="dirac"), J, 422, "shape"),
    ("fan scheme 1-d", "POST", "/init", with_(shape=[8], scheme="kaiming_uniform"), J, 422, "shape"),
    ("bad dtype", "POST", "/init", with_(dtype="int8"), J, 422, "dtype"),
    ("int64 dtype", "POST", "/init", with_(dtype="int64"), J, 422, "dtype"),
    ("bad layout", "POST", "/init", with_(layout="caffe"), J, 422, "layout"),
    ("fan_in zero", "POST", "/init", with_(fan_in=0), J, 422, "fan_in"),
    ("unknown top field", "POST", "/init", with_(sead=1), J, 422, "sead"),
    ("name with space", "POST", "/init", with_(name="a b"), J, 422, "name"),
    ("name invisible unicode", "POST", "/init", with_(name="w\u200bx"), J, 422, "name"),  # a zero-width space
    ("name path", "POST", "/init", with_(name="../../etc/passwd"), J, 422, "name"),
    ("name megabyte", "POST", "/init", with_(name="w" * 60000), J, 422, "name"),
    ("shorthand without shape", "POST", "/init", '{"seed": 0, "scheme": "normal"}', J, 422, "body"),
    ("shorthand without scheme", "POST", "/init", '{"seed": 0, "shape": [2]}', J, 422, "body"),
    (
        "duplicate names",
        "POST",
        "/init",
        json.dumps({"seed": 0, "tensors": [{"name": "w", "shape": [2], "scheme": "zeros"}] * 2}),
        J,
        422,
        "tensors.1.name",
    ),
    (
        "tensor missing shape",
        "POST",
        "/init",
        json.dumps({"seed": 0, "tensors": [{"name": "w", "scheme": "zeros"}]}),
        J,
        422,
        "tensors.0.shape",
    ),
    (
        "unknown layer",
        "POST",
        "/init",
        json.dumps({"seed": 0, "layers": [{"type": "lstm", "name": "l"}]}),
        J,
        422,
        "layers.0",
    ),
    (
        "conv groups",
        "POST",
        "/init",
        json.dumps(
            {
                "seed": 0,
                "layers": [
                    {"type": "conv2d", "name": "c", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "groups": 2}
                ],
            }
        ),  # fmt: skip
        J,
        422,
        "layers.0",
    ),
    ("deep json", "POST", "/init", "[" * 5000 + "]" * 5000, J, 400, None),
    ("post diagnostics bad", "POST", "/diagnostics", with_(seed=-5), J, 422, "seed"),
    ("get bad seed", "GET", "/init?shape=4,4&scheme=normal&seed=abc", None, {}, 422, "seed"),
    ("get missing scheme", "GET", "/init?shape=4,4", None, {}, 422, "scheme"),
    ("get bad param", "GET", "/init?shape=4,4&scheme=normal&std=-1", None, {}, 422, "scheme.std"),
    ("get unknown param", "GET", "/init?shape=4,4&scheme=normal&foo=1", None, {}, 422, "scheme.foo"),
    ("unknown route", "GET", "/nowhere", None, {}, 404, None),
    ("wrong method", "DELETE", "/init", None, {}, 405, None),
    ("unknown scheme page", "GET", "/schemes/nope", None, {}, 404, None),
]


@pytest.mark.parametrize(
    ("label", "method", "url", "body", "headers", "status", "field"), CORPUS, ids=[c[0] for c in CORPUS]
)
def test_bad_request_gets_a_precise_problem(client, label, method, url, body, headers, status, field):
    r = client.request(method, url, content=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    if field is not None:
        fields = [e["field"] for e in problem["errors"]]
        assert field in fields, fields
        assert all(e["pointer"] == "" or e["pointer"].startswith("/") for e in problem["errors"])


def test_errors_say_what_is_allowed(client):
    r = client.post("/init", json={**ONE, "scheme": {"name": "kaiming_uniform", "mode": "fan_max"}})
    error = r.json()["errors"][0]
    assert error["pointer"] == "/scheme/mode" and "fan_in" in error["allowed"]
    r = client.post("/init", json={**ONE, "scheme": "xavier"})
    assert "xavier_uniform" in r.json()["errors"][0]["allowed"]


def test_the_service_keeps_serving_after_the_corpus(client):
    before = client.post("/init", json=ONE).content
    for _, method, url, body, headers, _, _ in CORPUS:
        client.request(method, url, content=body, headers=headers)
    after = client.post("/init", json=ONE)
    assert after.status_code == 200 and after.content == before


# ----------------------------------------------------------------------------- each handler


@pytest.fixture(scope="module")
def inline():
    """An app with the service's handlers and routes that raise what they are told to."""
    app = FastAPI(exception_handlers=HANDLERS)

    @app.get("/init-error")
    def init_error():
        raise InitError("b must exceed a", param="scheme.b", allowed="a number greater than a=1.0")

    @app.get("/problem")
    def a_problem():
        raise ProblemError(503, "the service is busy", kind="busy", headers={"Retry-After": "7"})

    @app.get("/bug")
    def bug():
        raise RuntimeError("internal detail the client must not see")

    @app.post("/echo")
    def echo(body: dict) -> dict:
        return body

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_problem_names_the_instance_and_uses_the_problem_media_type():
    response = problem(409, "already there", kind="conflict", headers={"Location": "/x"})
    assert response.status_code == 409 and response.media_type == PROBLEM
    assert response.headers["location"] == "/x"
    assert json.loads(response.body) == {"type": "https://initw.dev/problems/conflict", "title": "Conflict",
                                         "status": 409, "detail": "already there"}  # fmt: skip


def test_an_init_error_is_a_422_naming_its_field_and_what_it_allows(inline):
    r = inline.get("/init-error")
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["detail"] == "scheme.b: b must exceed a" and body["instance"] == "/init-error"
    assert body["errors"] == [{"field": "scheme.b", "pointer": "/scheme/b", "message": "b must exceed a",
                               "allowed": "a number greater than a=1.0"}]  # fmt: skip


def test_a_problem_error_keeps_its_status_kind_and_headers(inline):
    r = inline.get("/problem")
    assert r.status_code == 503 and r.headers["retry-after"] == "7"
    assert r.json()["type"] == "https://initw.dev/problems/busy" and r.json()["detail"] == "the service is busy"


def test_an_unexpected_error_is_a_500_problem_that_is_logged_and_says_nothing_more(inline, caplog):
    with caplog.at_level(logging.ERROR, logger="initw"):
        r = inline.get("/bug")
    assert r.status_code == 500 and r.headers["content-type"] == PROBLEM
    assert r.json()["type"] == "https://initw.dev/problems/internal" and "internal detail" not in r.text
    assert any("GET /bug" in record.getMessage() and record.exc_info for record in caplog.records)


def test_a_404_and_a_405_say_what_and_where(inline):
    missing = inline.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["detail"] == "no such resource: /nowhere"
    wrong = inline.delete("/echo")
    assert wrong.status_code == 405 and wrong.json()["detail"] == "DELETE is not allowed on /echo"
    assert wrong.headers["allow"] == "POST"


def test_405_allows_every_method_some_route_takes_at_the_path(client):
    r = client.delete("/init")  # GET, HEAD and POST /init are three routes
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"a": "\xff"}', "it is not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": 1' + b"0" * 5000 + b"}", "more than 4300 digits"),
        (b"{a: 1}", "the body is not valid JSON"),
        (b"", "the body is empty"),
    ],
    ids=["not utf-8", "deep", "long integer", "malformed", "empty"],
)
def test_a_body_that_is_not_json_is_a_400_saying_why(inline, raw, words):
    r = inline.post("/echo", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
    assert r.json()["type"] == "https://initw.dev/problems/malformed-json" and words in r.json()["detail"]


def test_validation_errors_list_every_field_and_the_detail_names_the_first_five(client):
    r = client.post("/init", json={"seed": -1, "shape": [0] * 6, "scheme": "zeros"})
    body = r.json()
    assert r.status_code == 422 and body["type"] == "https://initw.dev/problems/invalid-request"
    assert sorted(e["field"] for e in body["errors"]) == sorted(["seed", *(f"shape.{i}" for i in range(6))])
    assert body["detail"].count("; ") == 4 and all(f"{e['field']}: " in body["detail"] for e in body["errors"][:5])
