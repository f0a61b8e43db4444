"""POST /init with a pretrained file (transfer) and with an architecture preset (model), in process."""

import base64
import json
import math

import numpy as np
import pytest
from safetensors.numpy import load, save

from service.core.generate import TensorSpec, generate

JSON_ACCEPT = {"accept": "application/json"}


def metadata(body: bytes) -> dict:
    size = int.from_bytes(body[:8], "little")
    return json.loads(body[8 : 8 + size])["__metadata__"]


@pytest.fixture(scope="module")
def pretrained():
    rng = np.random.default_rng(1)
    return {
        "fc1.weight": rng.standard_normal((16, 8)).astype(np.float16),  # kept, in its own dtype
        "fc1.bias": np.arange(16, dtype=np.float32),  # kept
        "fc2.weight": np.ones((3, 16), dtype=np.float32),  # the request asks for [4, 16]: mismatched
        "head.extra": np.zeros(2, dtype=np.float64),  # not requested: ignored
        "attn.mask": np.tril(np.ones((4, 4), dtype=bool)),  # a buffer of another dtype: ignored, not an error
    }


def transfer_body(pretrained):
    return {
        "seed": 4,
        "pretrained": base64.b64encode(save(pretrained)).decode(),
        "layers": [
            {"type": "linear", "name": "fc1", "in_features": 8, "out_features": 16},
            {"type": "linear", "name": "fc2", "in_features": 16, "out_features": 4},
        ],
    }


def test_matching_tensors_are_kept_byte_for_byte_and_the_rest_initialized(client, pretrained):
    r = client.post("/init", json=transfer_body(pretrained))
    assert r.status_code == 200, r.text
    served = load(r.content)
    assert served["fc1.weight"].dtype == np.float16
    assert served["fc1.weight"].tobytes() == pretrained["fc1.weight"].tobytes()
    assert served["fc1.bias"].tobytes() == pretrained["fc1.bias"].tobytes()
    fresh = client.post("/init", json={**transfer_body(pretrained), "pretrained": None}).content
    assert served["fc2.weight"].tobytes() == load(fresh)["fc2.weight"].tobytes()  # initialized as without a file
    assert served["fc2.bias"].tobytes() == load(fresh)["fc2.bias"].tobytes()
    assert "head.extra" not in served
    assert r.headers["initw-transfer"] == "kept=2, initialized=1, mismatched=1, ignored=2"
    transfer = json.loads(metadata(r.content)["transfer"])
    assert transfer == {
        "kept": ["fc1.weight", "fc1.bias"],
        "initialized": ["fc2.bias"],
        "mismatched": [{"name": "fc2.weight", "file_shape": [3, 16], "shape": [4, 16]}],
        "ignored": ["attn.mask", "head.extra"],
    }
    diagnostics = json.loads(metadata(r.content)["diagnostics"])
    assert diagnostics["fc1.bias"]["kept"] is True and diagnostics["fc1.bias"]["mean"] == pytest.approx(7.5)


def test_tensors_of_any_safetensors_dtype_are_kept(client):
    mask = np.tril(np.ones((4, 4), dtype=bool))
    body = {"pretrained": base64.b64encode(save({"mask": mask})).decode(),
            "tensors": [{"name": "mask", "shape": [4, 4], "scheme": "zeros"}]}  # fmt: skip
    r = client.post("/init", json=body)
    assert r.status_code == 200, r.text
    assert load(r.content)["mask"].tobytes() == mask.tobytes()
    described = client.post("/init", json=body, headers=JSON_ACCEPT).json()
    assert described["tensors"][0]["dtype"] == "bool" and described["tensors"][0]["safetensors_dtype"] == "BOOL"


def test_the_json_answer_reports_kept_tensors_and_the_etag_follows_the_file(client, pretrained):
    body = transfer_body(pretrained)
    described = client.post("/init", json=body, headers=JSON_ACCEPT).json()
    assert described["transfer"]["kept"] == ["fc1.weight", "fc1.bias"]
    kept = {t["name"]: t["kept"] for t in described["tensors"]}
    assert kept == {"fc1.weight": True, "fc1.bias": True, "fc2.weight": False, "fc2.bias": False}
    assert {t["name"]: t["dtype"] for t in described["tensors"]}["fc1.weight"] == "float16"
    first = client.post("/init", json=body).headers["etag"]
    changed = dict(pretrained, **{"fc1.bias": np.arange(16, dtype=np.float32) + 1})
    second = client.post("/init", json=transfer_body(changed)).headers["etag"]
    assert first != second


@pytest.mark.parametrize(
    ("pretrained", "words"),
    [("%%%", "base64"), (base64.b64encode(b"\x08\x00\x00\x00\x00\x00\x00\x00{}").decode(), "safetensors")],
)
def test_a_bad_file_is_422_on_the_pretrained_field(client, pretrained, words):
    r = client.post("/init", json={"shape": [4], "scheme": "zeros", "pretrained": pretrained})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "pretrained" and words in r.text


def _served(client, model):
    r = client.post("/init", json={"seed": 0, "model": model})
    assert r.status_code == 200, r.text
    return load(r.content), metadata(r.content)


def test_gpt2_preset_scales_the_residual_projections(client):
    tensors, meta = _served(client, {"preset": "gpt2", "n_layer": 2, "n_embd": 64, "vocab_size": 100,
                                     "block_size": 32})  # fmt: skip
    assert tensors["transformer.wte.weight"].shape == (100, 64)
    assert tensors["transformer.h.0.attn.c_attn.weight"].shape == (192, 64)  # [out, in] like nn.Linear
    assert tensors["transformer.h.1.mlp.c_proj.weight"].shape == (64, 256)
    assert tensors["transformer.wte.weight"].std() == pytest.approx(0.02, rel=0.02)
    projection = 0.02 / math.sqrt(2 * 2)
    proj = np.concatenate([tensors[f"transformer.h.{i}.mlp.c_proj.weight"].ravel() for i in range(2)])
    assert proj.std() == pytest.approx(projection, rel=0.02)
    assert tensors["transformer.h.0.attn.c_attn.weight"].std() == pytest.approx(0.02, rel=0.03)
    assert np.all(tensors["transformer.h.0.ln_1.weight"] == 1) and np.all(tensors["transformer.ln_f.bias"] == 0)
    notes = json.loads(meta["preset"])
    assert notes["residual_projection_std"] == pytest.approx(projection)
    assert "lm_head.weight" not in tensors and notes["tied"] == {"lm_head.weight": "transformer.wte.weight"}


def test_mup_preset_gives_1_over_fan_in_variances_a_zero_readout_and_per_tensor_multipliers(client):
    tensors, meta = _served(client, {"preset": "mup_mlp_v2", "widths": [32, 512, 512, 10], "base_width": 128})
    assert tensors["layers.0.weight"].var() == pytest.approx(1 / 32, rel=0.05)
    assert tensors["layers.1.weight"].var() == pytest.approx(1 / 512, rel=0.02)
    assert np.all(tensors["layers.2.weight"] == 0)
    notes = json.loads(meta["preset"])
    assert notes["width_mult"] == 4.0 and notes["tensors"]["layers.2.weight"]["forward_multiplier"] == 0.25
    assert notes["tensors"]["layers.2.weight"]["adam_lr_multiplier"] == 1.0
    nonzero, _ = _served(client, {"preset": "mup_mlp_v2", "widths": [32, 512, 10], "base_width": 128,
                                  "readout_zero": False})  # fmt: skip
    assert nonzero["layers.1.weight"].var() == pytest.approx(1 / 128, rel=0.05)  # x 1/4 in the forward pass


def test_the_withdrawn_mup_preset_is_a_422_that_says_why(client):
    r = client.post("/init", json={"model": {"preset": "mup_mlp", "widths": [32, 512, 10], "base_width": 128}})
    assert r.status_code == 422 and "withdrawn" in r.json()["detail"] and "mup_mlp_v2" in r.json()["detail"]


def test_fixup_preset_zeroes_the_last_layer_of_each_branch_and_the_head(client):
    tensors, meta = _served(client, {"preset": "fixup_mlp", "input_width": 16, "width": 256, "blocks": 4,
                                     "output_width": 10})  # fmt: skip
    he = 2 / 256
    assert tensors["blocks.0.fc1.weight"].var() == pytest.approx(he / 4, rel=0.03)  # He x L^(-1/2), squared
    assert np.all(tensors["blocks.3.fc2.weight"] == 0) and np.all(tensors["head.weight"] == 0)
    assert tensors["blocks.1.scale"].tolist() == [1.0] and tensors["blocks.1.bias2b"].tolist() == [0.0]
    assert json.loads(meta["preset"])["branch_scale"] == pytest.approx(0.5)


def test_zero_preset_uses_the_deterministic_hadamard_identity(client):
    tensors, _ = _served(client, {"preset": "zero_mlp", "widths": [8, 8, 16]})
    assert np.array_equal(tensors["layers.0.weight"], np.eye(8, dtype=np.float32))
    again, _ = _served(client, {"preset": "zero_mlp", "widths": [8, 8, 16]})
    assert again["layers.1.weight"].tobytes() == tensors["layers.1.weight"].tobytes()
    expected = generate(TensorSpec("layers.1.weight", (16, 8), "hadamard_identity"), 0).reshape(16, 8)
    assert np.array_equal(tensors["layers.1.weight"], expected)


def test_an_unknown_preset_is_422_listing_the_presets(client):
    r = client.post("/init", json={"model": {"preset": "resnet"}})
    assert r.status_code == 422
    assert "gpt2" in r.text and "mup_mlp" in r.text
