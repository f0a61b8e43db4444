"""service.analysis.lsuv: layer-sequential unit variance (Mishkin & Matas 2016), checked against an
independent numpy forward pass of the weights it returns."""

import numpy as np
import pytest

from service.analysis import lsuv
from service.analysis.network import DenseLayer, Network
from service.core import kernels
from service.core.errors import InitError
from service.core.generate import TensorSpec, generate

from .stacks import stack


def batch(rows, width, seed=0):
    return np.random.default_rng(seed).standard_normal((rows, width))


NUMPY = {"tanh": np.tanh, "relu": lambda h: np.maximum(h, 0.0), "linear": lambda h: h}


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_every_layer_output_has_the_target_variance_within_tolerance(activation):
    net = stack(activation, "orthogonal", depth=6, width=32, bias=("normal", {"std": 0.1}))
    x0 = batch(64, 32)
    settings = lsuv.Settings(tolerance=0.02, max_iterations=20, target_variance=1.5)
    weights, report = lsuv.lsuv(net, 4, x0, settings)
    x = x0
    for i in range(6):
        h = x @ weights[f"layers.{i}.weight"].T + weights[f"layers.{i}.bias"]
        assert abs(h.var() - 1.5) < 0.02 + 1e-9  # pinned sums vs numpy's: a few ulp apart
        assert report[i]["layer"] == i and report[i]["converged"]
        assert report[i]["variance"] == pytest.approx(h.var(), rel=1e-9)
        x = NUMPY[activation](h)


def test_each_weight_is_a_scalar_multiple_of_the_orthogonal_bytes_and_biases_are_as_generated():
    net = stack("tanh", "xavier_uniform", depth=2, width=16, bias=("uniform", {"a": -0.1, "b": 0.1}))
    weights, _ = lsuv.lsuv(net, 9, batch(32, 16), lsuv.Settings())
    for i in range(2):
        orthogonal = generate(TensorSpec(f"layers.{i}.weight", (16, 16), "orthogonal", dtype="float64"), 9)
        ratio = weights[f"layers.{i}.weight"].reshape(-1) / orthogonal  # not the layer's scheme: orthogonal
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
        bias = generate(TensorSpec(f"layers.{i}.bias", (16,), "uniform", {"a": -0.1, "b": 0.1}, dtype="float64",
                                   fan_in=16, fan_out=16), 9)  # fmt: skip
        np.testing.assert_array_equal(weights[f"layers.{i}.bias"], bias)


def test_the_same_seed_and_batch_give_the_same_bits_and_another_seed_other_ones():
    net = stack("relu", "orthogonal", depth=3, width=16)
    x0 = batch(32, 16)
    first, report = lsuv.lsuv(net, 1, x0, lsuv.Settings())
    again, report_again = lsuv.lsuv(net, 1, x0.copy(), lsuv.Settings())
    other, _ = lsuv.lsuv(net, 2, x0, lsuv.Settings())
    assert all(first[name].tobytes() == again[name].tobytes() for name in first) and report == report_again
    assert first["layers.0.weight"].tobytes() != other["layers.0.weight"].tobytes()


def test_a_layer_that_does_not_converge_within_max_iterations_says_so():
    # Without a bias one rescaling hits the target (the variance is quadratic in the weight); a bias
    # the rescaling leaves alone takes more steps than the one allowed.
    net = stack("tanh", "orthogonal", depth=1, width=8, bias=("normal", {"std": 0.5}))
    _, (row,) = lsuv.lsuv(net, 0, batch(16, 8), lsuv.Settings(tolerance=1e-9, max_iterations=1))
    assert row["iterations"] == 1 and row["converged"] is False and abs(row["variance"] - 1.0) >= 1e-9
    plain = stack("tanh", "orthogonal", depth=1, width=8)
    _, (row,) = lsuv.lsuv(plain, 0, batch(16, 8), lsuv.Settings(tolerance=1e-9, max_iterations=1))
    assert row["iterations"] == 1 and row["converged"] is True


def test_a_residual_layer_adds_its_input():
    net = stack("linear", "orthogonal", depth=2, width=8, residual=True)
    x0 = batch(16, 8)
    weights, _ = lsuv.lsuv(net, 0, x0, lsuv.Settings(tolerance=0.01, max_iterations=50))
    x1 = x0 + x0 @ weights["layers.0.weight"].T
    assert abs((x1 @ weights["layers.1.weight"].T).var() - 1.0) < 0.01 + 1e-9


def test_a_normalized_layer_is_refused_naming_its_norm():
    net = stack("relu", "orthogonal", depth=2, width=8, norm="batchnorm")
    with pytest.raises(InitError) as refused:
        lsuv.lsuv(net, 0, batch(16, 8), lsuv.Settings())
    assert refused.value.param == "layers.0.norm" and refused.value.allowed == "null"


def test_a_layer_whose_output_has_no_variance_is_refused_naming_it():
    net = stack("relu", "orthogonal", depth=2, width=8)
    with pytest.raises(InitError) as refused:
        lsuv.lsuv(net, 0, np.zeros((16, 8)), lsuv.Settings())
    assert refused.value.param == "layers.0" and "variance is 0" in str(refused.value)


def test_the_cost_counts_every_product_once_per_iteration_and_once_more():
    net = Network(3, (DenseLayer(4, "relu", TensorSpec("layers.0.weight", (4, 3), "orthogonal")),
                      DenseLayer(5, "relu", TensorSpec("layers.1.weight", (5, 4), "orthogonal"))))  # fmt: skip
    # batch 2: (3 x 4 + 4 x 5) multiply-adds per row, for 1 iteration and the pass that feeds on
    assert lsuv.cost(net, 2, 1) == 2 * (3 * 4 + 4 * 5) * 2
    assert lsuv.cost(net, 4, 9) == 10 * lsuv.cost(net, 4, 0)


@pytest.mark.parametrize(
    ("depth", "batch_rows", "width"),
    [(3, 64, 256), pytest.param(2, 4, 1024, marks=pytest.mark.slow), (10, 128, 64)],
)
def test_lsuv_memory_bounds_the_measured_peak(depth, batch_rows, width):
    import tracemalloc

    net = stack("relu", "orthogonal", depth=depth, width=width)
    x0 = np.random.default_rng(0).standard_normal((batch_rows, width))

    def peak() -> int:
        tracemalloc.start()
        try:
            lsuv.lsuv(net, 5, x0, lsuv.Settings(max_iterations=3))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    bound = lsuv.memory(net, batch_rows)
    with kernels.numpy():  # the bound is the numpy reference's; the compiled products hold less
        reference = peak()
    assert reference <= bound <= 4 * reference + (16 << 20)
    assert peak() <= bound
