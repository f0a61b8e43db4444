"""POST /init and GET|HEAD /init: the contract, in process (POST /diagnostics: test_diagnostics.py)."""

import base64
import hashlib
import json
import math

import numpy as np
import pytest
from safetensors.numpy import load

from service.core.generate import TensorSpec, generate

SHORTHAND = {"seed": 0, "shape": [64, 32], "scheme": "xavier_uniform"}
JSON_ACCEPT = {"accept": "application/json"}
JSON_TYPE = {"content-type": "application/json"}


def metadata(body: bytes) -> dict:
    size = int.from_bytes(body[:8], "little")
    return json.loads(body[8 : 8 + size])["__metadata__"]


def test_post_returns_a_safetensors_file_with_caching_headers(client):
    r = client.post("/init", json=SHORTHAND)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert int(r.headers["content-length"]) == len(r.content)
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["vary"] == "Accept"
    assert r.headers["etag"].startswith('"') and r.headers["etag"].endswith('"')
    digest = base64.b64encode(hashlib.sha256(r.content).digest()).decode()
    assert r.headers["repr-digest"] == f"sha-256=:{digest}:"
    tensors = load(r.content)
    assert list(tensors) == ["weight"] and tensors["weight"].shape == (64, 32)
    expected = generate(TensorSpec("weight", (64, 32), "xavier_uniform"), 0)
    np.testing.assert_array_equal(tensors["weight"].reshape(-1), expected)


def test_metadata_holds_algorithm_seed_canonical_request_and_diagnostics(client):
    body = client.post("/init", json={**SHORTHAND, "seed": 2**64 - 1}).content
    meta = metadata(body)
    assert meta["algorithm"] == "initw-v1"
    assert meta["seed"] == str(2**64 - 1)
    request = json.loads(meta["request"])
    assert request["tensors"][0]["scheme"] == {"name": "xavier_uniform", "gain": 1.0}
    diagnostics = json.loads(meta["diagnostics"])["weight"]
    assert {"mean", "std", "expected_std", "min", "max", "verdicts"} <= set(diagnostics)
    assert diagnostics["expected_std"] == pytest.approx(math.sqrt(2 / 96))


def test_same_body_same_bytes_and_etag_differs_by_representation(client):
    first, second = client.post("/init", json=SHORTHAND), client.post("/init", json=SHORTHAND)
    assert first.content == second.content and first.headers["etag"] == second.headers["etag"]
    as_json = client.post("/init", json=SHORTHAND, headers=JSON_ACCEPT)
    assert as_json.headers["etag"] != first.headers["etag"]
    other_seed = client.post("/init", json={**SHORTHAND, "seed": 1})
    assert other_seed.headers["etag"] != first.headers["etag"]


def test_equivalent_spellings_give_the_same_artifact(client):
    shorthand = client.post("/init", json={"seed": 3, "shape": [10, 4], "scheme": "glorot_uniform", "name": "w"})
    explicit = client.post(
        "/init",
        json={"seed": 3, "tensors": [{"name": "w", "shape": [10, 4], "scheme": {"name": "xavier_uniform", "gain": 1}}]},
    )
    assert shorthand.content == explicit.content
    assert shorthand.headers["etag"] == explicit.headers["etag"]


def test_json_representation_describes_the_file_and_carries_it(client):
    r = client.post("/init", json=SHORTHAND, headers=JSON_ACCEPT)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    binary = client.post("/init", json=SHORTHAND).content
    assert base64.b64decode(body["safetensors_base64"]) == binary
    assert body["artifact"]["size"] == len(binary)
    assert body["artifact"]["sha256"] == hashlib.sha256(binary).hexdigest()
    assert body["tensors"] == [
        {"name": "weight", "shape": [64, 32], "dtype": "float32", "safetensors_dtype": "F32", "nbytes": 8192,
         "file_offsets": [len(binary) - 8192, len(binary)], "kept": False}
    ]  # fmt: skip
    report = body["diagnostics"]["weight"]
    assert report["verdict"] == "healthy" and report["expected"]["distribution"].startswith("U(")
    digest = base64.b64encode(hashlib.sha256(r.content).digest()).decode()
    assert r.headers["repr-digest"] == f"sha-256=:{digest}:"


def test_json_beyond_its_cap_is_a_413_pointing_to_the_binary_form(client):
    r = client.post("/init", json={"seed": 0, "shape": [512, 1024], "scheme": "normal"}, headers=JSON_ACCEPT)
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert "application/octet-stream" in r.json()["detail"]


def test_element_cap_is_a_413(client):
    r = client.post("/init", json={"seed": 0, "shape": [4096, 4096], "scheme": "normal"})
    assert r.status_code == 413
    assert "16,777,216 elements" in r.json()["detail"]


def test_get_is_the_shorthand_with_304_and_head(client):
    url = "/init?shape=64,32&scheme=xavier_uniform&seed=0"
    got = client.get(url)
    posted = client.post("/init", json=SHORTHAND)
    assert got.status_code == 200 and got.content == posted.content
    assert got.headers["etag"] == posted.headers["etag"]
    cached = client.get(url, headers={"if-none-match": got.headers["etag"]})
    assert cached.status_code == 304 and cached.content == b""
    assert (
        cached.headers["etag"] == got.headers["etag"]
        and cached.headers["cache-control"] == got.headers["cache-control"]
    )
    assert client.get(url, headers={"if-none-match": '"other", W/' + got.headers["etag"]}).status_code == 304
    assert client.get(url, headers={"if-none-match": "*"}).status_code == 304
    assert client.get(url, headers={"if-none-match": '"other"'}).status_code == 200
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(got.content)) and head.headers["etag"] == got.headers["etag"]


def test_get_takes_scheme_parameters_as_query_parameters(client):
    url = "/init?shape=16,8&scheme=kaiming_normal&mode=fan_out&nonlinearity=relu&a=0.1&dtype=float64&name=fc&seed=5"
    got = load(client.get(url).content)["fc"]
    body = {"seed": 5, "dtype": "float64", "name": "fc", "shape": [16, 8],
            "scheme": {"name": "kaiming_normal", "mode": "fan_out", "nonlinearity": "relu", "a": 0.1}}  # fmt: skip
    np.testing.assert_array_equal(got, load(client.post("/init", json=body).content)["fc"])
    assert client.get("/init?shape=4,4&scheme=truncated_normal&correct_variance=maybe").status_code == 422
    bad = client.get("/init?shape=4,x&scheme=normal")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "shape"


@pytest.mark.parametrize("path", ["/init", "/diagnostics"])
def test_a_truncation_interval_too_narrow_for_its_moments_is_a_422_not_a_500(client, path):
    # docs/ALGORITHM.md sections 7 and 8: m2 - m1^2 <= 0 (it was decimal.InvalidOperation)
    scheme = {"name": "truncated_normal", "a": -20.0, "b": -19.99999999, "bounds": "sigma"}
    r = client.post(path, json={"seed": 0, "shape": [4, 4], "scheme": scheme})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    (error,) = r.json()["errors"]
    assert error["field"] == "scheme.b" and "wider" in error["allowed"]


def test_post_with_a_matching_if_none_match_is_a_412(client):
    tag = client.post("/init", json=SHORTHAND).headers["etag"]
    r = client.post("/init", json=SHORTHAND, headers={"if-none-match": tag})
    assert r.status_code == 412 and r.headers["content-type"] == "application/problem+json"


def test_accept_negotiation(client):
    assert (
        client.post("/init", json=SHORTHAND, headers={"accept": "*/*"}).headers["content-type"]
        == "application/octet-stream"
    )
    preferred = client.post(
        "/init", json=SHORTHAND, headers={"accept": "application/octet-stream;q=0.5, application/json"}
    )
    assert preferred.headers["content-type"] == "application/json"
    refused = client.post("/init", json=SHORTHAND, headers={"accept": "text/html"})
    assert refused.status_code == 406 and refused.headers["content-type"] == "application/problem+json"


def test_layers_expand_into_torch_named_tensors_with_framework_defaults(client):
    body = {
        "seed": 1,
        "layers": [
            {"type": "linear", "name": "fc1", "in_features": 100, "out_features": 20},
            {
                "type": "conv2d",
                "name": "conv",
                "in_channels": 4,
                "out_channels": 8,
                "kernel_size": 3,
                "preset": "keras",
            },
            {"type": "batchnorm2d", "name": "bn", "num_features": 8},
        ],
    }
    tensors = load(client.post("/init", json=body).content)
    assert tensors["fc1.weight"].shape == (20, 100) and tensors["fc1.bias"].shape == (20,)
    bound = np.float32(1 / math.sqrt(100))
    assert np.abs(tensors["fc1.weight"]).max() <= bound and np.abs(tensors["fc1.bias"]).max() <= bound
    assert tensors["conv.weight"].shape == (8, 4, 3, 3) and not tensors["conv.bias"].any()
    assert (tensors["bn.weight"] == 1).all() and (tensors["bn.running_var"] == 1).all()
    assert tensors["bn.num_batches_tracked"].dtype == np.int64 and tensors["bn.num_batches_tracked"].shape == ()


def test_per_tensor_dtype_and_layout(client):
    body = {
        "seed": 0,
        "dtype": "float64",
        "layout": "keras",
        "tensors": [
            {"name": "kernel", "shape": [3, 3, 4, 8], "scheme": "glorot_uniform"},
            {"name": "half", "shape": [4, 4], "scheme": "normal", "dtype": "float16"},
        ],
    }
    tensors = load(client.post("/init", json=body).content)
    assert tensors["kernel"].dtype == np.float64 and tensors["half"].dtype == np.float16
    bound = math.sqrt(6 / (4 * 9 + 8 * 9))  # keras fans: in = 4*3*3, out = 8*3*3
    assert np.abs(tensors["kernel"]).max() <= bound


def test_a_moments_header_is_a_lighter_summary_of_the_same_tensor_in_its_own_file(client):
    full = client.post("/init", json=SHORTHAND)
    light = client.post("/init", json={**SHORTHAND, "header": "moments"})
    assert light.status_code == 200 and light.headers["etag"] != full.headers["etag"]
    np.testing.assert_array_equal(load(light.content)["weight"], load(full.content)["weight"])
    summary = json.loads(metadata(light.content)["diagnostics"])["weight"]
    checks = {verdict["check"] for verdict in summary["verdicts"]}
    assert summary["header"] == "moments" and "ks" not in checks and {"mean_z", "std_ratio"} <= checks
    assert summary["std"] == json.loads(metadata(full.content)["diagnostics"])["weight"]["std"]
    assert json.loads(metadata(light.content)["request"])["tensors"][0]["header"] == "moments"
    assert "header" not in json.loads(metadata(full.content)["request"])["tensors"][0]  # v1's files keep their bytes
    by_query = client.get("/init", params={"shape": "64,32", "scheme": "xavier_uniform", "header": "moments"})
    assert by_query.content == light.content


def test_a_tensors_own_header_overrides_the_requests(client):
    body = {"seed": 3, "header": "moments", "tensors": [{"name": "a", "shape": [8, 8], "scheme": "normal"},
            {"name": "b", "shape": [8, 8], "scheme": "normal", "header": "full"}]}  # fmt: skip
    summaries = json.loads(metadata(client.post("/init", json=body).content)["diagnostics"])
    assert summaries["a"]["header"] == "moments" and "header" not in summaries["b"]
    refused = client.post("/init", json={**SHORTHAND, "header": "none"})
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "header"


GOLDEN_NAME = "name-unicode/float32"  # tests/golden/v1.json: seed 0, "blocks.0.attn.wéight/🙂"


def test_a_non_ascii_name_serves_the_golden_vectors_bytes(client):
    """docs/ALGORITHM.md section 2: the key takes the name's UTF-8 bytes as given; POST and GET /init
    accept the golden vector's non-ASCII name and serve its bytes."""
    from pathlib import Path

    case = json.loads((Path(__file__).parents[1] / "golden" / "v1.json").read_text())["cases"][GOLDEN_NAME]
    name = case["tensor"]["name"]
    assert not name.isascii()
    tensor = {"name": name, "shape": [16, 16], "scheme": "normal"}
    body = {"seed": case["seed"], "dtype": "float32", "tensors": [tensor]}
    raw_utf8 = json.dumps(body, ensure_ascii=False).encode()
    answers = [client.post("/init", json=body), client.post("/init", content=raw_utf8, headers=JSON_TYPE)]
    answers.append(client.get("/init", params={"seed": 0, "shape": "16,16", "scheme": "normal", "name": name}))
    for answer in answers:
        assert answer.status_code == 200, answer.text
        size = int.from_bytes(answer.content[:8], "little")
        header = json.loads(answer.content[8 : 8 + size])
        begin, end = header[name]["data_offsets"]
        assert hashlib.sha256(answer.content[8 + size + begin : 8 + size + end]).hexdigest() == case["sha256"]
        assert list(load(answer.content)) == [name]
    assert answers[0].content == answers[1].content == answers[2].content


def test_nfc_and_nfd_spellings_are_different_names(client):
    nfc, nfd = "w\u00e9ight", "we\u0301ight"
    files = [client.post("/init", json={"seed": 3, "shape": [8], "scheme": "normal", "name": n}) for n in (nfc, nfd)]
    assert [f.status_code for f in files] == [200, 200]
    assert list(load(files[0].content)) == [nfc] and list(load(files[1].content)) == [nfd]
    assert load(files[0].content)[nfc].tolist() != load(files[1].content)[nfd].tolist()
    tensors = [{"name": n, "shape": [8], "scheme": "normal"} for n in (nfc, nfd)]
    both = client.post("/init", json={"seed": 3, "tensors": tensors})
    assert both.status_code == 200 and sorted(load(both.content)) == sorted([nfc, nfd])


@pytest.mark.parametrize("name", ["fc\u200b.weight", "\u202egnp.exe", "fc\u00a0weight", "w\ufeff", "a\u0085b"])
def test_invisible_characters_in_names_are_refused(client, name):
    r = client.post("/init", json={"seed": 0, "shape": [2], "scheme": "zeros", "name": name})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
