"""POST /diagnostics/network and its SVG plot, in process (POST /init/lsuv: test_lsuv.py; its budget is
checked here beside the network's)."""

import base64
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from safetensors.numpy import load, save
from starlette.testclient import TestClient

from service.analysis.network import DenseLayer, Network, diagnose_network, layer_tensors
from service.app import create_app
from service.core.generate import generate
from service.settings import Settings

SVG_NS = "{http://www.w3.org/2000/svg}"


def tanh_stack(scheme="orthogonal", depth=50, width=256):
    return {"seed": 0, "input_width": width,
            "layers": [{"width": width, "activation": "tanh", "scheme": scheme, "repeat": depth}]}  # fmt: skip


@pytest.fixture(scope="module")
def tanh_orthogonal(client):
    r = client.post("/diagnostics/network", json=tanh_stack())
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.slow  # a 50-layer stack, ~5 s
def test_network_report_matches_the_core_and_the_mean_field(tanh_orthogonal):
    report = tanh_orthogonal
    assert len(report["layers"]) == 50
    row = report["layers"][9]
    assert {"pre_variance", "post_second_moment", "grad_variance", "saturated_fraction", "mean_cosine"} <= set(row)
    # diagnostics.md: tanh orthogonal(1), q10 0.058, q50 0.011, gradient ratio 0.014 (one network, finite width)
    assert 0.058 / 2 < report["layers"][9]["pre_variance"] < 0.058 * 2
    assert 0.011 / 2 < report["layers"][49]["pre_variance"] < 0.011 * 2
    stack = report["stack"]
    assert abs(math.log(stack["gradient_ratio"]) - stack["mean_field"]["log_gradient_ratio"]) < 0.5
    # sigma_w^2 = 1, sigma_b = 0: the fixed point is q* = 0 with chi1 = 1 (critical; q decays polynomially)
    assert stack["mean_field"]["phase"] == "critical" and stack["mean_field"]["chi1"] == pytest.approx(1.0, abs=1e-3)
    assert stack["jacobian"]["method"] == "exact"
    gradient = next(v for v in report["verdicts"] if v["check"] == "gradient")
    assert gradient["band"] == "fail" and "vanishing" in gradient["reason"] and "50 layers" in gradient["reason"]


def test_the_endpoint_uses_the_bytes_init_serves(client):
    body = {"seed": 5, "input_width": 16, "batch": 8, "dtype": "float16",
            "layers": [{"width": 12, "activation": "relu", "scheme": "kaiming_uniform",
                        "bias": {"name": "uniform", "a": -0.1, "b": 0.1}}]}  # fmt: skip
    report = client.post("/diagnostics/network", json=body).json()
    w, b = layer_tensors(0, 16, 12, ("kaiming_uniform", {}), ("uniform", {"a": -0.1, "b": 0.1}), "float16")
    expected = diagnose_network(Network(16, (DenseLayer(12, "relu", w, b),)), 5, batch=8)
    assert report["layers"][0]["pre_variance"] == pytest.approx(expected["layers"][0]["pre_variance"], rel=1e-12)
    served = client.post("/init", json={"seed": 5, "dtype": "float16", "tensors": [
        {"name": "layers.0.weight", "shape": [12, 16], "scheme": "kaiming_uniform"}]}).content  # fmt: skip
    weight = load(served)["layers.0.weight"]
    np.testing.assert_array_equal(weight.reshape(-1).view(np.uint16), generate(w, 5).view(np.uint16))


def test_uploaded_batch_replaces_the_synthetic_one(client):
    x = np.linspace(-1.0, 1.0, 4 * 8, dtype=np.float32).reshape(4, 8)
    upload = base64.b64encode(save({"input": x})).decode()
    body = {"input_width": 8, "input": upload, "layers": [{"width": 8, "activation": "linear", "scheme": "orthogonal"}]}
    report = client.post("/diagnostics/network", json=body).json()
    assert report["stack"]["input_second_moment"] == pytest.approx(float((x.astype(np.float64) ** 2).mean()))
    assert report["layers"][0]["pre_variance"] == pytest.approx(float(x.astype(np.float64).var()), rel=0.3)
    wrong = base64.b64encode(save({"input": np.zeros((4, 7), np.float32)})).decode()
    r = client.post("/diagnostics/network", json={**body, "input": wrong})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "input"


def test_the_plot_is_an_svg_with_one_point_per_layer(client):
    r = client.post("/diagnostics/network", json=tanh_stack(depth=12, width=64), headers={"accept": "image/svg+xml"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(r.content)
    assert root.tag == f"{SVG_NS}svg"
    lines = root.findall(f".//{SVG_NS}polyline")
    assert lines and all(len(line.get("points").split()) == 12 for line in lines)
    assert "12 layers" in "".join(root.itertext())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"layers": [{"width": 32, "scheme": "orthogonal", "residual": True}]}, "layers.0.residual"),
        ({"layers": [{"width": 9000, "scheme": "orthogonal"}]}, "layers.0.width"),
        ({"layers": [{"width": 16, "scheme": "orthogonal", "activation": "swish"}]}, "layers.0.activation"),
        ({"layers": [{"width": 16, "scheme": {"name": "uniform", "a": 1, "b": 0}}]}, "layers.0.scheme"),
        ({"layers": [{"width": 16, "scheme": "orthogonal", "repeat": 1001}]}, "layers.0.repeat"),
        ({"batch": 1}, "batch"),
        ({"input": "not base64!"}, "input"),
    ],
)
def test_bad_stacks_are_422_with_the_field(client, change, field):
    body = {"input_width": 16, "layers": [{"width": 16, "scheme": "orthogonal"}], **change}
    r = client.post("/diagnostics/network", json=body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert any(error["field"].startswith(field) for error in r.json()["errors"]), r.json()


def test_over_budget_is_413_and_says_what_to_change():
    with TestClient(create_app(Settings(network_budget=1e6, lsuv_budget=1e5))) as small:
        r = small.post("/diagnostics/network", json=tanh_stack(depth=10, width=64))
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
        assert "INITW_NETWORK_BUDGET" in r.json()["detail"]
        lsuv = {"input_width": 64, "layers": [{"width": 64, "activation": "tanh", "repeat": 10}]}
        r = small.post("/init/lsuv", json=lsuv)
        assert r.status_code == 413 and "INITW_LSUV_BUDGET" in r.json()["detail"]
        assert small.get("/healthz").status_code == 200


def test_a_constant_negative_bias_is_a_mean_shift_that_the_mean_field_sees_killing_the_stack(client):
    """Issue 14.2: a constant bias of -1 after He-normal ReLU layers. Treated as noise (variance 1)
    the mean field said "healthy, chi1 = 1" with q rising 2.98 -> 9.98; as a mean it predicts what
    the network does: q falls, every unit dies, the gradient is gone."""
    he, bias = {"name": "kaiming_normal", "nonlinearity": "relu"}, {"name": "constant", "value": -1.0}
    layer = {"width": 256, "activation": "relu", "scheme": he, "bias": bias, "repeat": 8}
    body = {"seed": 0, "input_width": 256, "layers": [layer]}
    r = client.post("/diagnostics/network", json=body)
    assert r.status_code == 200, r.text
    report = r.json()
    field = report["stack"]["mean_field"]
    assert field["bias_mean"] == -1.0 and field["q_star"] == 0.0 and field["chi1"] == 0.0
    assert field["phase"] == "ordered"
    # E[h^2] per layer, predicted and measured, falls to 1: every pre-activation is the bias, -1
    predicted, measured = field["q"], [row["pre_variance"] for row in report["layers"]]
    assert all(later <= earlier for earlier, later in zip(predicted, predicted[1:], strict=False))
    assert predicted[-1] == pytest.approx(1.0, abs=1e-9) and measured[-1] == pytest.approx(1.0, abs=1e-3)
    assert all(abs(p - m) < 0.6 for p, m in zip(predicted, measured, strict=False))
    assert report["layers"][-1]["dead_fraction"] == 1.0
    verdict = next(v for v in report["verdicts"] if v["check"] == "mean_field")
    assert verdict["band"] != "healthy" and "chi1 = 0" in verdict["reason"]
