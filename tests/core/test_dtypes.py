"""Rounding float64 once, to nearest-even, straight into each output format."""

import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from service.core.dtypes import DTYPES, get_dtype
from service.core.errors import InitError


def exact_rne(value: float, fraction_bits: int, min_exponent: int, max_finite: float) -> float:
    """Round with exact rationals: the definition the fast path must meet."""
    if value == 0 or math.isinf(value):
        return value
    exponent = max(math.frexp(abs(value))[1] - 1, min_exponent)
    quantum = Fraction(2) ** (exponent - fraction_bits)
    rounded = round(Fraction(abs(value)) / quantum) * quantum  # round() is half-to-even on Fractions
    result = float(rounded)
    if result > max_finite:
        result = math.inf
    return math.copysign(result, value)


def sample_values() -> np.ndarray:
    rng = np.random.default_rng(0)
    magnitudes = 10.0 ** rng.uniform(-45, 39, 30_000)
    edges = [
        0.0,
        -0.0,
        65504.0,
        65519.999,
        65520.0,
        2.0**-24,
        2.0**-25,
        3 * 2.0**-26,
        1.0 + 2.0**-11,
        1.0 + 3 * 2.0**-11,
    ]
    edges += [
        float.fromhex("0x1.fep127"),
        float.fromhex("0x1.ff0p127"),
        float.fromhex("0x1.fefffp127"),
        2.0**-133,
        2.0**-134,
    ]
    return np.concatenate([magnitudes * rng.choice([-1.0, 1.0], magnitudes.size), edges, np.negative(edges)])


@pytest.mark.parametrize(
    ("name", "bits", "emin", "emax"),
    [("float16", 10, -14, 65504.0), ("bfloat16", 7, -126, float.fromhex("0x1.fep127"))],
)
def test_16_bit_formats_round_once_to_nearest_even(name, bits, emin, emax):
    x = sample_values()
    dtype = DTYPES[name]
    with np.errstate(over="ignore"):
        got = dtype.to_float64(dtype.round(x))
    expected = np.array([exact_rne(float(v), bits, emin, emax) for v in x])
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


def test_float16_agrees_with_numpy_direct_conversion():
    x = sample_values()
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(DTYPES["float16"].round(x), x.astype(np.float16).view(np.uint16))


def test_bfloat16_bits_agree_with_ml_dtypes_on_float32_exact_inputs():
    x = sample_values()
    x = x[np.abs(x) < 3e38].astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(
        DTYPES["bfloat16"].round(x), x.astype(np.float32).astype(ml_dtypes.bfloat16).view(np.uint16)
    )


def test_double_rounding_through_float32_would_differ():
    # 1 + 2^-8 + 2^-30 is just above a bfloat16 tie: direct RNE rounds up; via float32 it becomes
    # the tie 1 + 2^-8 and rounds to even (down). The direct rounding is the specified one.
    x = np.array([1.0 + 2.0**-8 + 2.0**-30])
    assert DTYPES["bfloat16"].to_float64(DTYPES["bfloat16"].round(x))[0] == 1.0 + 2.0**-7
    assert float(x.astype(np.float32).astype(ml_dtypes.bfloat16)[0]) == 1.0


def test_float32_and_float64_storage():
    x = np.array([0.1, -2.5, 1e-40])
    assert DTYPES["float32"].round(x).dtype == np.float32
    np.testing.assert_array_equal(DTYPES["float64"].round(x), x)
    assert DTYPES["float32"].round_scalar(0.1) == float(np.float32(0.1))


def test_unknown_dtype_is_a_clear_error():
    with pytest.raises(InitError) as error:
        get_dtype("int8")
    assert error.value.param == "dtype"
    assert "float32" in error.value.allowed and "bfloat16" in error.value.allowed
