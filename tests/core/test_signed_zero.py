"""-0 is a value (docs/ALGORITHM.md section 1, "Signed zeros"): the golden vectors store it, and
every place that makes it keeps the sign the IEEE operation gives."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from service.core import pinned
from service.core.complex_distributions import ComplexTruncated
from service.core.dtypes import get_dtype
from service.core.generate import generate
from service.core.spread import cos_pi_fraction, spread_unit_rows
from tests.golden.make_v1 import spec_of

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "v1.json").read_text())["cases"]
NEGATIVE_ZERO = {1: 0x80, 2: 0x8000, 4: 0x8000_0000, 8: 0x8000_0000_0000_0000}


def stored_bits(case_id: str) -> np.ndarray:
    case = GOLDEN[case_id]
    stored = generate(spec_of(case), case["seed"])
    data = np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder("<")).tobytes()
    assert hashlib.sha256(data).hexdigest() == case["sha256"]  # the golden answer itself, -0s included
    return np.frombuffer(data, dtype={1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}[stored.dtype.itemsize])


@pytest.mark.parametrize(
    ("case_id", "count"),
    [("spread_rows/float64", 72), ("spread_rows/float16", 72), ("spread_rows-dct/float32", 4)],
)
def test_spread_rows_golden_vectors_store_negative_zeros(case_id, count):
    """cosine(m) at q = 1 is -S with S = ksin(0) = +0 (docs/spread_rows.md section 5): -0, kept
    through the normalization (-0 / norm) and every rounding; +0 would change the SHA-256."""
    bits = stored_bits(case_id)
    itemsize = bits.dtype.itemsize
    assert int(np.sum(bits == NEGATIVE_ZERO[itemsize])) == count
    assert bits[322 if case_id.startswith("spread_rows/") else 82] == NEGATIVE_ZERO[itemsize]


def test_float8_golden_vector_rounds_a_tiny_negative_to_negative_zero():
    """rint keeps the sign: x in (-2^-10, 0) stores e4m3fn byte 0x80, as the golden first_bits say."""
    case = GOLDEN["float8-normal-subnormal-e4m3/float8_e4m3fn"]
    assert case["first_bits"][0] == "0x80" and case["first_values"][0] == "-0.0"
    bits = stored_bits("float8-normal-subnormal-e4m3/float8_e4m3fn")
    assert bits[0] == 0x80
    values = generate(spec_of(case), case["seed"], 0, 1)
    assert np.signbit(get_dtype("float8_e4m3fn").to_float64(values))[0]


def test_the_pinned_cosine_makes_negative_zero_at_a_quarter_turn_only():
    c = cos_pi_fraction(np.array([1, 3, 5, 7]), 2)  # cos(pi/4 * m) ... at m = N and 3N: pi/2 and 3pi/2
    quarter = cos_pi_fraction(np.array([2, 6]), 2)
    assert quarter[0] == 0 and np.signbit(quarter[0])  # q = 1: -S, S = +0
    assert quarter[1] == 0 and not np.signbit(quarter[1])  # q = 3: S
    assert not np.any(c == 0)
    rows = spread_unit_rows(6, 6)
    assert np.signbit(rows[2, 1]) and rows[2, 1] == 0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float32"])
def test_rounding_keeps_the_sign_of_a_negative_below_half_the_smallest_subnormal(dtype):
    format_ = get_dtype(dtype)
    stored = format_.round(np.array([-1e-300, 1e-300, -0.0, 0.0]))
    bits = stored.view({1: np.uint8, 2: np.uint16, 4: np.uint32}[stored.dtype.itemsize])
    negative, positive = NEGATIVE_ZERO[stored.dtype.itemsize], 0
    assert bits.tolist() == [negative, positive, negative, positive]


def test_sincos_at_the_eighths_and_the_complex_truncated_zero():
    """sincos_2pi_v1's octant table negates exact zeros (cos(pi/2) = -0); X = 0 - log_v1(1) is +0,
    where -log_v1(1) would be -0 and its root -0 (section 8.1)."""
    sin, cos = pinned.sincos_2pi(np.array([0.0, 0.25, 0.5, 0.75]))
    assert np.signbit(cos[1]) and cos[1] == 0  # octant 2: (c, -s), s = +0
    assert not np.signbit(sin[0]) and not np.signbit(cos[3])
    x = 0.0 - pinned.log(np.array([1.0]))
    assert x[0] == 0 and not np.signbit(x[0])
    assert np.signbit(-pinned.log(np.array([1.0]))[0])
    dist = ComplexTruncated(1.0)
    pair = dist.pair(np.array([0], dtype=np.uint64), np.array([1 << 62], dtype=np.uint64))  # t = 0, u = 0.25
    assert pair[0] == 0  # rho = sqrt(+0) * std = +0; re = +0 * cos(pi/2) = +0 * -0 = -0, im = +0 * 1 = +0
    assert np.signbit(pair[0].real) and not np.signbit(pair[0].imag)
