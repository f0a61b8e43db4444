"""Network diagnostics against mean-field theory and the measured cases of diagnostics.md (50
layers of width 256, x0 ~ N(0, I), B = 256, zero biases). Single networks fluctuate at finite
width, so each comparison states its tolerance."""

import math

import numpy as np
import pytest

from service.analysis.network import backward, diagnose_network, forward, parameters

from .stacks import stack


@pytest.fixture(scope="module")
def reports():
    cases = {
        "tanh_xavier": stack("tanh", "xavier_normal"),
        "tanh_orthogonal": stack("tanh", "orthogonal"),
        "tanh_gain_5_3": stack("tanh", "kaiming_normal", {"nonlinearity": "tanh"}),
        "relu_he": stack("relu", "kaiming_normal", {"nonlinearity": "relu"}),
        "sigmoid_xavier": stack("sigmoid", "xavier_normal"),
        "linear_orthogonal": stack("linear", "orthogonal"),
        "linear_small": stack("linear", "normal", {"std": 0.01}),
        "selu_lecun": stack("selu", "kaiming_normal", {"nonlinearity": "linear"}),
        "gelu_he": stack("gelu", "kaiming_normal", {"nonlinearity": "relu"}),
    }
    return {name: diagnose_network(net, seed=0) for name, net in cases.items()}


def q(report, layer):
    return report["layers"][layer - 1]["pre_variance"]


def bands(report):
    return {v["check"]: v["band"] for v in report["verdicts"]}


@pytest.mark.slow  # the 50-layer reports fixture, ~20 s once
@pytest.mark.parametrize(
    ("case", "q10", "q50", "gradient"),
    [  # diagnostics.md section 5, measured on one network each; finite width: within a factor
        ("tanh_xavier", 0.057, 0.011, 0.015),
        ("tanh_orthogonal", 0.058, 0.011, 0.014),
        ("tanh_gain_5_3", 1.18, 1.16, 7.0e3),
        ("linear_orthogonal", 1.0, 1.0, 1.0),
        ("selu_lecun", 0.99, 1.01, 36.9),
    ],
)
def test_measured_cases_are_reproduced_within_a_factor_of_two(reports, case, q10, q50, gradient):
    report = reports[case]
    assert q10 / 2 < q(report, 10) < q10 * 2
    assert q50 / 2 < q(report, 50) < q50 * 2
    assert gradient / 2 < report["stack"]["gradient_ratio"] < gradient * 2


@pytest.mark.slow  # the 50-layer reports fixture, ~20 s once
@pytest.mark.parametrize(
    ("case", "tolerance"),
    [("tanh_xavier", 0.5), ("tanh_orthogonal", 0.5), ("tanh_gain_5_3", 0.3), ("sigmoid_xavier", 2.0),
     ("linear_orthogonal", 0.01), ("selu_lecun", 0.5)],
)  # fmt: skip
def test_gradient_ratio_agrees_with_the_mean_field_prediction(reports, case, tolerance):
    # |ln(measured / predicted)| over 50 layers; sigmoid spans 63 decades, so 2 nats is 1.4%.
    stack_report = reports[case]["stack"]
    assert abs(math.log(stack_report["gradient_ratio"]) - stack_report["mean_field"]["log_gradient_ratio"]) < tolerance


@pytest.mark.slow  # the 50-layer reports fixture, ~20 s once
@pytest.mark.parametrize("case", ["tanh_xavier", "tanh_gain_5_3", "sigmoid_xavier", "selu_lecun"])
def test_per_layer_variance_follows_the_q_map(reports, case):
    report = reports[case]
    predicted = report["stack"]["mean_field"]["q"]
    measured = [row["pre_variance"] for row in report["layers"]]
    assert all(abs(math.log(m / p)) < 0.5 for m, p in zip(measured, predicted, strict=True))


@pytest.mark.slow  # the 50-layer reports fixture, ~20 s once
def test_relu_he_dead_units_and_collapse(reports):
    last = reports["relu_he"]["layers"][-1]
    assert 0.25 < last["dead_fraction"] < 0.6  # diagnostics.md: 32-48% over 10 seeds at B = 128
    assert 0.4 < last["zero_fraction"] < 0.6
    assert last["mean_cosine"] > 0.95
    assert bands(reports["relu_he"])["collapse"] in ("warn", "fail")


@pytest.mark.slow  # the 50-layer reports fixture, ~20 s once
def test_verdicts_name_vanishing_and_exploding(reports):
    sigmoid = {v["check"]: v for v in reports["sigmoid_xavier"]["verdicts"]}
    assert sigmoid["gradient"]["band"] == "fail" and "vanishing" in sigmoid["gradient"]["reason"]
    assert reports["sigmoid_xavier"]["layers"][-1]["mean_cosine"] > 0.99
    chaotic = {v["check"]: v for v in reports["tanh_gain_5_3"]["verdicts"]}
    assert chaotic["gradient"]["band"] == "fail" and "exploding" in chaotic["gradient"]["reason"]
    assert 0.005 < reports["tanh_gain_5_3"]["layers"][0]["saturated_fraction"] < 0.2  # 11% predicted at layer 1
    small = {v["check"]: v for v in reports["linear_small"]["verdicts"]}
    assert small["forward_variance"]["band"] == "fail"
    assert q(reports["linear_small"], 1) == pytest.approx(0.0256, rel=0.1)
    isometric = bands(reports["linear_orthogonal"])
    assert isometric["gradient"] == isometric["jacobian_m1"] == isometric["jacobian_spread"] == "healthy"


@pytest.mark.slow  # the 50-layer reports fixture, ~20 s once
def test_orthogonal_tanh_is_far_closer_to_isometry_than_gaussian(reports):
    orthogonal = reports["tanh_orthogonal"]["stack"]["jacobian"]
    gaussian = reports["tanh_xavier"]["stack"]["jacobian"]
    assert orthogonal["ratio_1_99"] < gaussian["ratio_1_99"] / 1e3
    linear = reports["linear_orthogonal"]["stack"]["jacobian"]
    assert linear["m1"] == pytest.approx(1.0, abs=1e-6) and linear["spread"] < 1e-6  # float32 weights


@pytest.mark.slow  # ~2 s
def test_jacobian_probes_estimate_the_exact_values():
    net = stack("tanh", "orthogonal", depth=10, width=128)
    exact = diagnose_network(net, 0, jacobian_mode="exact")["stack"]["jacobian"]
    probes = diagnose_network(net, 0, jacobian_mode="probes")["stack"]["jacobian"]
    assert probes["m1"] == pytest.approx(exact["m1"], rel=0.15)
    assert probes["s_max"] == pytest.approx(exact["s_max"], rel=0.05)


@pytest.mark.parametrize("norm", ["batchnorm", "layernorm"])
def test_norms_reset_the_forward_variance_and_backward_matches_finite_differences(norm):
    net = stack("relu", "kaiming_normal", {"nonlinearity": "relu"}, depth=4, width=16, norm=norm, residual=True)
    params = parameters(net, 0)
    rng = np.random.default_rng(0)
    x0, g = rng.standard_normal((8, 16)), rng.standard_normal((8, 16))
    caches = forward(net, params, x0)
    assert all(abs((c.a**2).mean() - 1.0) < 0.05 for c in caches)
    grad = backward(net, params, caches, g)[-1]
    step = 1e-6
    for index in [(0, 0), (3, 7), (7, 15)]:
        shifted = x0.copy()
        shifted[index] += step
        up = (forward(net, params, shifted)[-1].x * g).sum()
        shifted[index] -= 2 * step
        down = (forward(net, params, shifted)[-1].x * g).sum()
        assert grad[index] == pytest.approx((up - down) / (2 * step), rel=1e-4, abs=1e-6)


def test_weights_are_the_bytes_init_serves():
    from service.core.generate import TensorSpec, generate

    net = stack("tanh", "xavier_uniform", depth=2, width=8)
    weight = parameters(net, 7).weights[1]
    served = TensorSpec("layers.1.weight", (8, 8), "xavier_uniform", dtype="float32")
    np.testing.assert_array_equal(weight.astype(np.float32).reshape(-1), generate(served, 7))


@pytest.mark.slow  # the 50-layer reports fixture, ~20 s once
def test_relu_he_stays_critical_within_the_finite_width_spread(reports):
    # diagnostics.md: the only ReLU critical point is He (chi1 = 1); one network's log q wanders
    # like a random walk of step ~ sqrt(5 / n) per layer, so layer l is within 2 sqrt(5 l / n).
    report = reports["relu_he"]
    field = report["stack"]["mean_field"]
    assert field["phase"] == "critical" and field["chi1"] == pytest.approx(1.0, abs=1e-9)
    for row, predicted in zip(report["layers"], field["q"], strict=True):
        assert abs(math.log(row["pre_variance"] / predicted)) < 2 * math.sqrt(5 * (row["layer"] + 1) / 256)
    assert 0.1 < report["stack"]["gradient_ratio"] < 10  # measured 0.58 on the reference network


@pytest.mark.slow  # the 50-layer reports fixture, ~20 s once
def test_gelu_with_he_drifts_to_zero_as_the_mean_field_says(reports):
    # diagnostics.md: GELU has no stable q* at sigma_b = 0; q drifts to the fixed point 0, where
    # gelu(x) ~ x / 2 gives chi1 = 2 / 4 = 1/2 (ordered), and q10 ~ 0.52, q50 ~ 1e-10.
    report = reports["gelu_he"]
    field = report["stack"]["mean_field"]
    assert field["phase"] == "ordered" and field["chi1"] == pytest.approx(0.5, abs=1e-6)
    assert 0.52 / 2 < q(report, 10) < 0.52 * 2
    assert q(report, 50) < 1e-6 and field["q"][49] < 1e-6
    decreasing = [q(report, layer) for layer in range(5, 51)]
    assert all(b < a for a, b in zip(decreasing, decreasing[1:], strict=False))
    gradient = {v["check"]: v for v in report["verdicts"]}["gradient"]
    assert gradient["band"] == "fail" and "vanishing" in gradient["reason"]


@pytest.mark.parametrize(
    ("depth", "batch", "width", "jacobian"),
    [
        pytest.param(4, 64, 768, "exact", marks=pytest.mark.slow),  # ~1 s each
        pytest.param(4, 64, 768, "probes", marks=pytest.mark.slow),
        (3, 512, 512, "exact"),
        pytest.param(30, 64, 128, "probes", marks=pytest.mark.slow),
    ],
)
def test_memory_bounds_the_measured_peak(depth, batch, width, jacobian):
    import tracemalloc

    net = stack("tanh", "xavier_normal", depth=depth, width=width)
    tracemalloc.start()
    try:
        diagnose_network(net, 5, None, batch, jacobian)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    bound = net.memory(batch, jacobian == "exact")
    assert peak <= bound <= 4 * peak + (16 << 20)
