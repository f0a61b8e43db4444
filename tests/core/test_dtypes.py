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


# float8 (docs/ALGORITHM.md section 9): e4m3fn has no infinity (beyond max: NaN), e5m2 is IEEE-like.
FLOAT8 = {
    # name: (fraction bits, e_min, max finite, what a value beyond max becomes)
    "float8_e4m3fn": (3, -6, 448.0, math.nan),
    "float8_e5m2": (2, -14, 57344.0, math.inf),
}


def float8_values(name: str) -> np.ndarray:
    """Every float8 value, the midpoints between neighbours (ties) and the binary64 values either
    side of them, values just above max, subnormal boundaries, and 200,000 values over the range."""
    finite = np.arange(256, dtype=np.uint8).view(getattr(ml_dtypes, name)).astype(np.float64)
    atoms = np.unique(finite[np.isfinite(finite)])
    mids = (atoms[1:] + atoms[:-1]) / 2
    top = FLOAT8[name][2]
    edge = top + (atoms[-1] - atoms[-2]) / 2  # the tie between max and the next binade's first step
    special = [edge, np.nextafter(edge, 0), np.nextafter(edge, np.inf), top * 1.5, 1e300, 5e-324, 2.0**-300]
    special += [2.0 ** FLOAT8[name][1], 2.0 ** (FLOAT8[name][1] - FLOAT8[name][0] - 1), np.inf]
    rng = np.random.default_rng(8)
    spread = rng.standard_normal(200_000) * np.exp(rng.uniform(-25, 13, 200_000))
    values = np.concatenate([atoms, mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf), special, spread])
    return np.concatenate([values, -values])


@pytest.mark.parametrize("name", sorted(FLOAT8))
def test_float8_bytes_agree_with_ml_dtypes_conversion_from_float64(name):
    x = float8_values(name)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = x.astype(getattr(ml_dtypes, name)).view(np.uint8)
    got = DTYPES[name].round(x)
    assert got.dtype == np.uint8
    mismatch = np.flatnonzero(got != expected)
    assert mismatch.size == 0, f"{mismatch.size} differ, first at {x[mismatch[:3]]!r}"


@pytest.mark.parametrize("name", sorted(FLOAT8))
def test_float8_rounds_once_to_nearest_even_and_overflows_as_specified(name):
    bits, emin, top, overflow = FLOAT8[name]
    x = float8_values(name)[::7]
    got = DTYPES[name].to_float64(DTYPES[name].round(x))
    expected = np.array([exact_rne(float(v), bits, emin, top) for v in x])
    expected = np.where(np.isinf(expected), np.copysign(overflow, expected), expected)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))  # NaN keeps the sign too


@pytest.mark.parametrize("name", sorted(FLOAT8))
def test_float8_reads_back_every_byte_exactly_without_ml_dtypes(name):
    codes = np.arange(256, dtype=np.uint8)
    mine = DTYPES[name].to_float64(codes)
    theirs = codes.view(getattr(ml_dtypes, name)).astype(np.float64)
    np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(np.signbit(mine), np.signbit(theirs))
    finite = np.isfinite(mine)  # the round trip: each finite byte is its own rounding (-0 stays -0)
    np.testing.assert_array_equal(DTYPES[name].round(mine[finite]), codes[finite])


def test_float8_edges():
    e4m3, e5m2 = DTYPES["float8_e4m3fn"], DTYPES["float8_e5m2"]
    assert e4m3.round(np.array([464.0, -464.0, np.nextafter(464.0, 500.0), 1e300])).tolist() == [0x7E, 0xFE, 0x7F, 0x7F]
    assert e5m2.round(np.array([np.nextafter(61440.0, 0.0), 61440.0, -1e300])).tolist() == [0x7B, 0x7C, 0xFC]
    assert e4m3.round(np.array([2.0**-10, 3 * 2.0**-10, -(2.0**-9), -0.0])).tolist() == [0x00, 0x02, 0x81, 0x80]
    assert (e4m3.overflow, e5m2.overflow) == ("nan", "inf")
    assert (e4m3.safetensors, e5m2.safetensors, e4m3.itemsize) == ("F8_E4M3", "F8_E5M2", 1)


@pytest.mark.slow  # importing torch takes a second or two: the full lane
def test_torch_rounds_float64_to_float8_through_float32_and_saturates_e4m3fn():
    """What ALGORITHM.md section 9 says of torch 2.13 (a test dependency only): it agrees with
    ml_dtypes except where float64 -> float32 first lands on a float8 tie, and e4m3fn overflow."""
    torch = pytest.importorskip("torch", reason="torch is not installed: the comparison is skipped")
    for name, dtype in (("float8_e4m3fn", torch.float8_e4m3fn), ("float8_e5m2", torch.float8_e5m2)):
        tie = 1.0 + 2.0 ** -(FLOAT8[name][0] + 1)  # between 1 and 1 + 2^-m: 1 is even
        x = np.array([tie + 2.0**-30, 1000.0, 470.0, 61440.0, 0.3])
        theirs = torch.from_numpy(x).to(dtype).view(torch.uint8).numpy()
        ours = DTYPES[name].round(x)
        assert ours[0] != theirs[0]  # the double rounding: a float32 tie, then to even
        assert ours[-1] == theirs[-1]
        if name == "float8_e4m3fn":
            assert ours[1:3].tolist() == [0x7F, 0x7F] and theirs[1:3].tolist() == [0x7E, 0x7E]  # NaN vs 448
        else:
            assert ours[3] == theirs[3] == 0x7C


def test_complex128_is_refused_saying_what_the_format_cannot_store_and_complex64_is_c64():
    with pytest.raises(InitError) as error:
        get_dtype("complex128")
    assert error.value.param == "dtype" and "safetensors defines no complex128" in str(error.value)
    complex64 = get_dtype("complex64")  # safetensors' C64: two float32 parts, each rounded once
    assert (complex64.safetensors, complex64.itemsize, complex64.parts, complex64.part.name) == ("C64", 8, 2, "float32")
    values = np.array([1 / 3 + 2j / 3, -1e-46 + 1e39j])
    stored = complex64.round(values)
    assert stored.dtype == np.complex64
    assert stored.tolist() == [complex(np.float32(1 / 3), np.float32(2 / 3)), complex(-0.0, np.inf)]
    np.testing.assert_array_equal(complex64.to_float64(stored), [np.float32(1 / 3), np.float32(2 / 3), -0.0, np.inf])
