"""Every bad request gets a precise RFC 9457 problem: status, field path, what is allowed."""

import json

import pytest

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
    ("name unicode", "POST", "/init", with_(name="wéight"), J, 422, "name"),
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
