"""POST /init/lsuv: orthogonal weights rescaled layer by layer to the target output variance, as a
safetensors file or its JSON description. In process."""

import base64
import hashlib
import json

import numpy as np
import pytest
from safetensors.numpy import load, save

from service.core.generate import TensorSpec, generate

JSON_ACCEPT = {"accept": "application/json"}
SMALL = {"seed": 2, "input_width": 16, "batch": 32, "layers": [{"width": 16, "activation": "tanh", "repeat": 3}]}


def metadata(blob: bytes) -> dict:
    return json.loads(blob[8 : 8 + int.from_bytes(blob[:8], "little")])["__metadata__"]


@pytest.mark.slow  # about 2 s each: 50 layers
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_lsuv_reaches_unit_variance_within_tolerance_on_deep_stacks(client, activation):
    body = {"seed": 3, "input_width": 64, "batch": 128, "tolerance": 0.05,
            "layers": [{"width": 64, "activation": activation, "bias": {"name": "normal", "std": 0.1},
                        "repeat": 50}]}  # fmt: skip
    r = client.post("/init/lsuv", json=body, headers={"accept": "application/json"})
    assert r.status_code == 200, r.text
    described = r.json()
    assert len(described["lsuv"]) == 50
    assert all(row["converged"] and abs(row["variance"] - 1.0) < 0.05 for row in described["lsuv"])
    weights = load(base64.b64decode(described["safetensors_base64"]))
    # Independently of the report: push the same batch through the served (float32) weights.
    x = generate(TensorSpec("input", (128, 64), "normal", dtype="float64"), 3).reshape(128, 64)
    for i in range(50):
        h = x @ weights[f"layers.{i}.weight"].astype(np.float64).T + weights[f"layers.{i}.bias"].astype(np.float64)
        assert abs(h.var() - 1.0) < 0.05 + 1e-4  # float32 rounding of the weights moves it by ~1e-7
        x = np.tanh(h) if activation == "tanh" else np.maximum(h, 0.0)
    binary = client.post("/init/lsuv", json=body)
    assert binary.headers["content-type"] == "application/octet-stream"
    assert binary.content == client.post("/init/lsuv", json=body).content  # deterministic
    assert binary.content != client.post("/init/lsuv", json={**body, "seed": 4}).content
    meta = json.loads(binary.content[8 : 8 + int.from_bytes(binary.content[:8], "little")])["__metadata__"]
    assert json.loads(meta["lsuv"]) == described["lsuv"]


def test_lsuv_starts_from_the_orthogonal_bytes(client):
    body = {"seed": 9, "input_width": 32, "batch": 64, "layers": [{"width": 16, "activation": "linear"}]}
    weights = load(client.post("/init/lsuv", json=body).content)
    w = weights["layers.0.weight"].astype(np.float64)
    orthogonal = generate(TensorSpec("layers.0.weight", (16, 32), "orthogonal", dtype="float64"), 9).reshape(16, 32)
    scale = w / orthogonal
    assert np.allclose(scale, scale[0, 0], rtol=1e-6)  # a scalar multiple of the orthogonal start


def test_both_representations_are_immutable_with_their_own_validators(client):
    binary = client.post("/init/lsuv", json=SMALL)
    described = client.post("/init/lsuv", json=SMALL, headers=JSON_ACCEPT)
    for r in (binary, described):
        assert r.status_code == 200 and r.headers["vary"] == "Accept"
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert r.headers["repr-digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(r.content).digest()).decode()}:"
    assert binary.headers["etag"] != described.headers["etag"]
    assert client.post("/init/lsuv", json=SMALL).headers["etag"] == binary.headers["etag"]
    artifact = described.json()["artifact"]
    assert artifact == {"size": len(binary.content), "sha256": hashlib.sha256(binary.content).hexdigest()}
    assert base64.b64decode(described.json()["safetensors_base64"]) == binary.content


def test_the_file_is_in_the_requested_dtype_with_the_request_in_its_metadata(client):
    r = client.post("/init/lsuv", json={**SMALL, "dtype": "float16"})
    tensors = load(r.content)
    assert sorted(tensors) == [f"layers.{i}.weight" for i in range(3)]
    assert all(t.dtype == np.float16 and t.shape == (16, 16) for t in tensors.values())
    meta = metadata(r.content)
    request = json.loads(meta["request"])
    assert request["procedure"] == "lsuv" and request["request"]["dtype"] == "float16" and meta["seed"] == "2"


def test_an_uploaded_batch_replaces_the_synthetic_one_and_is_named_by_its_digest(client):
    x = np.random.default_rng(1).uniform(-3.0, 3.0, (20, 16)).astype(np.float32)
    upload = base64.b64encode(save({"input": x})).decode()
    r = client.post("/init/lsuv", json={**SMALL, "input": upload, "tolerance": 0.01}, headers=JSON_ACCEPT)
    assert r.status_code == 200, r.text
    weights = load(base64.b64decode(r.json()["safetensors_base64"]))
    h = x.astype(np.float64) @ weights["layers.0.weight"].astype(np.float64).T
    assert abs(h.var() - 1.0) < 0.01 + 1e-4
    meta_request = json.loads(metadata(base64.b64decode(r.json()["safetensors_base64"]))["request"])
    sha = hashlib.sha256(upload.encode()).hexdigest()
    assert meta_request["request"]["input"] == {"sha256": sha}
    synthetic = client.post("/init/lsuv", json=SMALL).content
    assert synthetic != base64.b64decode(r.json()["safetensors_base64"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"layers": [{"width": 8, "residual": True}]}, "layers.0.residual"),
        ({"layers": [{"width": 16, "norm": "batchnorm"}]}, "layers.0.norm"),
        ({"tolerance": 0}, "tolerance"),
        ({"max_iterations": 101}, "max_iterations"),
        ({"target_variance": True}, "target_variance"),
        ({"layers": [{"width": 16, "repeat": 1001}]}, "layers.0.repeat"),
    ],
)
def test_bad_stacks_are_422_with_the_field(client, change, field):
    r = client.post("/init/lsuv", json={**SMALL, **change})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert any(error["field"].startswith(field) for error in r.json()["errors"]), r.json()


def test_a_representation_it_does_not_have_is_406(client):
    r = client.post("/init/lsuv", json=SMALL, headers={"accept": "image/svg+xml"})
    assert r.status_code == 406 and r.headers["content-type"] == "application/problem+json"
