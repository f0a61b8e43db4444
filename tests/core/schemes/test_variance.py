"""service/core/schemes/variance.py: Xavier/Glorot, Kaiming/He, LeCun and variance_scaling."""

import math
import random

import numpy as np
import pytest
from scipy import stats

from service.core.generate import tensor
from service.core.schemes.variance import TRUNCATED_STD_2

from .support import draw, ks_pvalue, random_shape, spec

GAINS = {"linear": 1.0, "sigmoid": 1.0, "conv2d": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 0.75}


def torch_fans(shape):
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


@pytest.mark.parametrize("dims", [2, 4])
@pytest.mark.parametrize("use_gain", [False, True])
def test_xavier_matches_glorot_bengio(dims, use_gain):
    rng = random.Random(7 * dims + use_gain)
    shape = random_shape(rng, dims, 20, 25)
    gain = rng.uniform(0.1, 2) if use_gain else 1.0
    fan_in, fan_out = torch_fans(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    uniform = draw("xavier_uniform", shape, {"gain": gain}, 1)
    assert ks_pvalue(uniform, stats.uniform(-bound, 2 * bound).cdf) > 1e-4
    assert np.abs(uniform).max() <= np.float32(bound)
    assert ks_pvalue(draw("xavier_normal", shape, {"gain": gain}, 2), stats.norm(0, std).cdf) > 1e-4


@pytest.mark.parametrize("dims", [2, 4])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("use_a", [False, True])
def test_kaiming_matches_he_et_al(dims, mode, use_a):
    rng = random.Random(f"kaiming-{dims}-{mode}-{use_a}")  # not hash(): str hashes change per process
    shape = random_shape(rng, dims, 20, 25)
    a = rng.uniform(0.1, 2) if use_a else 0.0
    fan_in, fan_out = torch_fans(shape)
    std = math.sqrt(2.0 / ((1 + a * a) * (fan_in if mode == "fan_in" else fan_out)))
    params = {"a": a, "mode": mode}
    assert (
        ks_pvalue(
            draw("kaiming_uniform", shape, params, 1), stats.uniform(-math.sqrt(3) * std, 2 * math.sqrt(3) * std).cdf
        )
        > 1e-4
    )
    assert ks_pvalue(draw("kaiming_normal", shape, params, 2), stats.norm(0, std).cdf) > 1e-4


@pytest.mark.parametrize("nonlinearity", sorted(GAINS))
def test_kaiming_nonlinearity_sets_the_gain(nonlinearity):
    shape = (300, 200)
    std = GAINS[nonlinearity] / math.sqrt(200)
    values = draw("kaiming_normal", shape, {"nonlinearity": nonlinearity}, 5)
    assert ks_pvalue(values, stats.norm(0, std).cdf) > 1e-4


def test_pytorch_linear_default_is_uniform_one_over_sqrt_fan_in():
    values = draw("kaiming_uniform", (200, 300), {"a": math.sqrt(5)}, 0)
    assert ks_pvalue(values, stats.uniform(-1 / math.sqrt(300), 2 / math.sqrt(300)).cdf) > 1e-4


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "uniform"])
def test_variance_scaling_matches_jax(mode, distribution):
    shape = (120, 80)  # torch layout: fan_in 80, fan_out 120
    fan = {"fan_in": 80, "fan_out": 120, "fan_avg": 100, "fan_geo_avg": math.sqrt(80 * 120)}[mode]
    variance = 2.0 / fan
    expected = {
        "truncated_normal": stats.truncnorm(-2, 2, scale=math.sqrt(variance) / 0.87962566103423978),
        "normal": stats.norm(0, math.sqrt(variance)),
        "uniform": stats.uniform(-math.sqrt(3 * variance), 2 * math.sqrt(3 * variance)),
    }[distribution]
    values = draw("variance_scaling", shape, {"scale": 2.0, "mode": mode, "distribution": distribution}, 4)
    assert ks_pvalue(values, expected.cdf) > 1e-4
    assert abs(values.astype(np.float64).std() / expected.std() - 1) < 0.03


def test_lecun_schemes_are_keras_and_jax_presets():
    values = draw("lecun_normal", (150, 100), {}, 1)
    assert ks_pvalue(values, stats.truncnorm(-2, 2, scale=math.sqrt(1 / 100) / 0.87962566103423978).cdf) > 1e-4
    values = draw("lecun_uniform", (150, 100), {}, 1)
    assert ks_pvalue(values, stats.uniform(-math.sqrt(3 / 100), 2 * math.sqrt(3 / 100)).cdf) > 1e-4


@pytest.mark.parametrize(
    ("preset", "engine"),
    [
        ("lecun_uniform", {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"}),
        ("lecun_normal", {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"}),
    ],
)
@pytest.mark.parametrize("layout", ["torch", "jax"])
def test_lecun_presets_are_variance_scaling_to_the_byte(preset, engine, layout):
    shape = (5, 3, 6, 7)
    preset_values = tensor(spec(preset, shape, {}, "float64", layout), 3)
    np.testing.assert_array_equal(preset_values, tensor(spec("variance_scaling", shape, engine, "float64", layout), 3))


def test_the_keras_truncation_constant_is_the_std_of_the_unit_normal_cut_at_two():
    assert TRUNCATED_STD_2 == pytest.approx(stats.truncnorm(-2, 2).std(), rel=1e-14)  # scipy computes it to a few ulp
