"""service/core/schemes/basic.py: constant fills, uniform, normal and truncated_normal."""

import random

import numpy as np
import pytest
from scipy import stats

from service.core.generate import tensor

from .support import DTYPES, Refusal, assert_refused, draw, ks_pvalue, random_shape, spec


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_constant_fills_hold_their_value_rounded_once(dtype):
    as_dtype = np.dtype(dtype).type
    np.testing.assert_array_equal(tensor(spec("zeros", (3, 4), dtype=dtype), 0), np.zeros((3, 4), dtype))
    assert not np.signbit(tensor(spec("zeros", (3, 4), dtype=dtype), 0)).any()  # +0, never -0
    np.testing.assert_array_equal(tensor(spec("ones", (5,), dtype=dtype), 0), np.ones(5, dtype))
    filled = tensor(spec("constant", (2, 3), {"value": -0.3}, dtype), 0)
    np.testing.assert_array_equal(filled, np.full((2, 3), as_dtype(-0.3)))


def test_constant_fills_ignore_the_seed_and_the_name():
    a = tensor(spec("constant", (4, 4), {"value": 2.5}), 0)
    np.testing.assert_array_equal(a, tensor(spec("constant", (4, 4), {"value": 2.5}, name="other"), 99))


@pytest.mark.parametrize("dims", [1, 2, pytest.param(4, marks=pytest.mark.slow)])
def test_uniform_and_normal_match_their_distributions(dims):
    rng = random.Random(123 + dims)
    for trial in range(3):
        shape = random_shape(rng, dims, 30, 50)
        a = rng.uniform(-3, 3)
        b = a + rng.uniform(1, 5)
        assert ks_pvalue(draw("uniform", shape, {"a": a, "b": b}, trial), stats.uniform(a, b - a).cdf) > 1e-4
        mean, std = rng.uniform(-3, 3), rng.uniform(1, 5)
        assert ks_pvalue(draw("normal", shape, {"mean": mean, "std": std}, trial), stats.norm(mean, std).cdf) > 1e-4


@pytest.mark.parametrize(
    "dtype", [pytest.param(d, marks=pytest.mark.slow) if d in ("float32", "float64") else d for d in DTYPES]
)
def test_truncated_normal_all_dtypes_stays_in_bounds_like_pytorch(dtype):
    rng = random.Random(11)
    for trial in range(3):
        shape = random_shape(rng, rng.choice([1, 2, 4]), 30, 50)
        mean, std = rng.uniform(-3, 3), rng.uniform(0.01, 1)
        a, b = rng.uniform(mean - 2 * std, mean), rng.uniform(mean, mean + 2 * std)
        s = spec("truncated_normal", shape, {"mean": mean, "std": std, "a": a, "b": b}, dtype)
        values = s.out_dtype.to_float64(tensor(s, trial).reshape(-1))
        assert values.min() >= s.out_dtype.round_scalar(a)
        assert values.max() <= s.out_dtype.round_scalar(b)
        if dtype in ("float32", "float64"):
            expected = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
            assert ks_pvalue(values, expected.cdf) > 1e-4


@pytest.mark.parametrize(("a", "b"), [(4.0, 6.0), (-6.0, -4.0), (2.0, 3.0), (-0.5, 0.5), (8.0, 9.0), (20.0, 25.0)])
def test_truncated_normal_is_exact_in_far_tails(a, b):
    values = tensor(spec("truncated_normal", (200, 100), {"a": a, "b": b, "bounds": "sigma"}, "float64"), 0).reshape(-1)
    assert values.min() >= a and values.max() <= b
    assert np.count_nonzero(values == a) + np.count_nonzero(values == b) == 0  # nothing piled at a bound
    assert ks_pvalue(values, stats.truncnorm(a, b).cdf) > 1e-4


@pytest.mark.parametrize("dtype", DTYPES)
def test_truncated_normal_low_precision_has_many_values_and_none_at_the_bounds(dtype):
    values = tensor(spec("truncated_normal", (10000,), {"std": 0.1}, dtype), 0)
    as_float = spec("truncated_normal", (1,), {}, dtype).out_dtype.to_float64(values)
    assert np.count_nonzero(np.abs(as_float) == 2.0) == 0
    unique = np.unique(as_float).size
    floor = {"float32": 5000, "float64": 5000, "float16": 1000, "bfloat16": 200, "float8_e4m3fn": 60, "float8_e5m2": 60}
    assert unique > floor[dtype]  # float8: about 90 of its values lie within +-0.5 (std 0.1)


def test_truncated_normal_variance_correction_gives_the_requested_std():
    params = {"std": 0.3, "a": -2.0, "b": 2.0, "bounds": "sigma", "correct_variance": True}
    values = draw("truncated_normal", (300, 300), params, 0).astype(np.float64)
    assert abs(values.std() / 0.3 - 1) < 0.01
    raw_std = 0.3 / 0.87962566103423978
    assert ks_pvalue(values, stats.truncnorm(-2, 2, scale=raw_std).cdf) > 1e-4


def test_pytorch_small_std_truncation_is_effectively_untruncated():
    values = draw("truncated_normal", (300, 300), {"std": 0.02}, 0)
    assert ks_pvalue(values, stats.norm(0, 0.02).cdf) > 1e-4


REFUSALS: list[Refusal] = [
    ("uniform", (4, 4), {"a": 1.0, "b": 1.0}, "torch", "scheme.b", "greater than a"),
    ("uniform", (4, 4), {"a": 2.0, "b": 1.0}, "torch", "scheme.b", "greater than a"),
    ("truncated_normal", (4, 4), {"a": 3.0, "b": -3.0}, "torch", "scheme.b", "greater than a"),
    ("truncated_normal", (4, 4), {"a": 40.0, "b": 41.0, "bounds": "sigma"}, "torch", "scheme.a", "standard deviations"),
    ("truncated_normal", (4, 4), {"correct_variance": True}, "torch", "scheme.correct_variance", "sigma"),
]


@pytest.mark.parametrize(("scheme", "shape", "params", "layout", "field", "fragment"), REFUSALS)
def test_rules_across_parameters_are_refused_naming_the_field(scheme, shape, params, layout, field, fragment):
    assert_refused(scheme, shape, params, layout, field, fragment)
