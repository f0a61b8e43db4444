"""spread_unit_rows: unit rows, orthonormal when K <= N, low coherence when K > N, the same bytes on
every SIMD path; its pinned cosine against libm and against the exact value (docs/spread_rows.md)."""

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest

from service.core import spread
from service.core.spread import cos_pi_fraction, half_pi_over, spread_selection, spread_unit_rows

ROOT = Path(__file__).parents[2]


def coherence(w: np.ndarray) -> float:
    gram = np.abs(w @ w.T)
    np.fill_diagonal(gram, 0.0)
    return float(gram.max())


def walsh_signs(n: int) -> np.ndarray:
    """The unnormalized Sylvester-Hadamard matrix, (-1)^popcount(i & j)."""
    parity = np.bitwise_count(np.arange(n)[:, None] & np.arange(n)[None, :]) & 1
    return np.where(parity == 1, -1.0, 1.0)


def ulps(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    return np.abs(got - expected) / np.spacing(np.abs(expected))


U = np.finfo(np.float64).eps / 2  # unit roundoff: every + - * / sqrt is within a factor 1 + U of exact
# numpy's own accuracy tests hold float64 cos to 1 ulp on each of its SIMD paths
# (numpy/_core/tests/data/umath-validation-set-cos.csv); 4 also covers a libm it may fall back to.
NUMPY_COS_ULPS = 4


def gram_tolerance(dim: int) -> float:
    """Bound on |W W^T - I| for rows W of length ``dim`` from spread_unit_rows, the product taken by
    any BLAS kernel in any order.

    A dot product of length n is within n U sum|a_i b_i| of exact whatever the order of its
    additions (Higham, Accuracy and Stability of Numerical Algorithms, 3.1), and sum|a_i b_i| <= 1
    for unit rows: n U. The rows themselves are off the exact orthonormal ones by a few U per
    entry (cosines within 2 ulp, the pinned norm's pairwise sum within (log2 n + 1) U, a division):
    at most (log2 n + 14) U in an inner product. Hadamard and identity rows are exact.
    """
    return (dim + math.log2(dim) + 16) * U


def numpy_cos_tolerance(angle_max: float) -> float:
    """Bound on |cos_pi_fraction - np.cos(np.pi * m / (2n))| for angles up to ``angle_max``.

    The float angle is off by at most 3 U relative (pi's rounding, the product, the division),
    which moves a cosine by at most that much absolutely; np.cos adds NUMPY_COS_ULPS ulp and the
    pinned cosine 2 ulp of a value below 1, an ulp of which is at most U.
    """
    return (3 * angle_max + NUMPY_COS_ULPS + 2) * U


# --- shape, norms, orthonormality -----------------------------------------------------------------

SHAPES = [(1, 1), (5, 1), (7, 2), (3, 3), (20, 3), (48, 64), (64, 64), (100, 64), (700, 64), (30, 20),
          (96, 40), (300, 100), (60, 27), (27, 27), (200, 27), (1000, 1000), (2500, 1000), (40, 768),
          (3 * 768 + 5, 768), (4, 65536), (300, 6), (512, 32)]  # fmt: skip


@pytest.mark.parametrize("units, dim", SHAPES)
def test_every_row_is_a_unit_vector(units, dim):
    w = spread_unit_rows(units, dim)
    assert w.shape == (units, dim) and w.dtype == np.float64
    assert np.all(np.isfinite(w))
    # numpy's norm is sqrt of a sum in an order of its choosing: within the Gram bound of 1.
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), 1.0, rtol=0, atol=gram_tolerance(dim))


@pytest.mark.parametrize("units, dim", [(64, 64), (48, 64), (17, 64), (1, 64), (30, 30), (20, 30), (999, 1000),
                                        (500, 1000), (768, 768), (100, 101), (13, 4096), (8, 65536)])  # fmt: skip
def test_at_most_dim_rows_are_orthonormal(units, dim):
    w = spread_unit_rows(units, dim)
    np.testing.assert_allclose(w @ w.T, np.eye(units), rtol=0, atol=gram_tolerance(dim))


@pytest.mark.parametrize("dim", [3, 10, 27, 100, 768, 1000])
def test_the_dct_block_is_orthonormal_to_rounding(dim):
    c = spread_unit_rows(dim, dim)
    # c @ c.T is BLAS: its rounding depends on the CPU's kernel (7e-15 at 768 on one, 3.4e-15 on
    # another), so the bound is the one any summation order meets, not a measured one.
    assert np.abs(c @ c.T - np.eye(dim)).max() <= gram_tolerance(dim)
    k, j = np.arange(dim)[:, None], np.arange(dim)[None, :]
    scale = np.where(k == 0, math.sqrt(1 / dim), math.sqrt(2 / dim))
    angle = np.pi * ((k * (2 * j + 1)) % (4 * dim)) / (2 * dim)  # reduced first: angles below 2 pi
    # The cosines differ by numpy_cos_tolerance; c divides by a pinned norm, not by the exact
    # sqrt(n / 2): its cosines (4 U each), pairwise sum ((log2 n + 1) U), sqrt and division move
    # it by at most (log2 n / 2 + 10) U relative; scale * np.cos rounds once more.
    bound = math.sqrt(2 / dim) * (numpy_cos_tolerance(2 * math.pi) + (math.log2(dim) + 12) * U)
    assert np.abs(c - scale * np.cos(angle)).max() <= bound


def test_hadamard_and_identity_entries_are_exact():
    w = spread_unit_rows(2 * 64, 64)
    s = 1.0 / math.sqrt(64)
    np.testing.assert_array_equal(w[:64], s * walsh_signs(64))
    np.testing.assert_array_equal(w[64:], np.eye(64))
    odd = spread_unit_rows(32, 32)  # 1/sqrt(32) is not a power of two: still not renormalized
    assert set(np.abs(odd).ravel().tolist()) == {1.0 / math.sqrt(32)}


def test_blocks_are_prefixes_and_the_truncated_block_is_a_row_subset():
    for dim in (64, 100, 27):
        big = spread_unit_rows(5 * dim, dim)
        for full in range(1, 5):
            np.testing.assert_array_equal(spread_unit_rows(full * dim, dim), big[: full * dim])
            rest = dim // 3
            part = spread_unit_rows(full * dim + rest, dim)[full * dim :]
            np.testing.assert_array_equal(part, big[full * dim : (full + 1) * dim][spread_selection(dim, rest)])


@pytest.mark.parametrize("dim, units", [(8, 64 * 8), (6, 50 * 6), (7, 40 * 7), (1, 100), (2, 40), (64, 600)])
def test_repeated_blocks_equal_the_definition_block_by_block(dim, units):
    # Exercises the periodic copying in _fill_extra_blocks (beyond F * (p + 1) blocks for small N).
    w = spread_unit_rows(units, dim)
    rows = np.arange(dim)
    for t in range(units // dim):
        np.testing.assert_array_equal(w[t * dim : (t + 1) * dim], spread._block_rows(dim, t, rows), err_msg=f"B_{t}")


def test_zero_units_and_the_caps():
    assert spread_unit_rows(0, 5).shape == (0, 5)
    with pytest.raises(ValueError, match="65536"):
        spread_unit_rows(1, 65537)
    with pytest.raises(ValueError, match="2\\^28"):
        spread_unit_rows((1 << 28) // 1000 + 1, 1000)
    with pytest.raises(ValueError):
        spread_unit_rows(1, 0)
    with pytest.raises(ValueError, match="2\\^28"):
        spread_unit_rows(4097, 65536)
    assert spread_unit_rows(1, 65536).shape == (1, 65536)


# --- coherence ------------------------------------------------------------------------------------

# Upper bounds on coherence * sqrt(N); measured values are in docs/spread_rows.md.
COHERENCE = [
    # (N, K, bound * sqrt(N))
    (16, 5 * 16, 1.0),  # 4^j: F + 2 = 5 mutually unbiased bases
    (64, 2 * 64, 1.0),
    (64, 4 * 64, 1.0),
    (64, 9 * 64, 1.0),  # all F + 2 = 9 bases
    (256, 4 * 256, 1.0),
    (1024, 2 * 1024, 1.0),
    pytest.param(1024, 4 * 1024, 1.0, marks=pytest.mark.slow),  # ~1 s
    (32, 9 * 32, math.sqrt(2)),  # odd m: semi-bent, sqrt(2/N)
    (512, 2 * 512, 1.0),
    (512, 4 * 512, math.sqrt(2)),
    (96, 2 * 96, math.sqrt(2)),  # DCT vs identity: max |entry| = sqrt(2/N)
    (96, 4 * 96, 2.6),
    (768, 2 * 768, math.sqrt(2)),
    pytest.param(768, 4 * 768, 2.6, marks=pytest.mark.slow),  # ~1.4 s
    (1000, 2 * 1000, math.sqrt(2)),
    pytest.param(1000, 4 * 1000, 2.6, marks=pytest.mark.slow),  # ~1.9 s
    pytest.param(768, 6 * 768, 3.5, marks=pytest.mark.slow),  # chirp rates +-3; ~1 s
    (27, 2 * 27, math.sqrt(2)),
    (27, 4 * 27, 3.1),
    (147, 4 * 147, 4.0),
    (1001, 4 * 1001, 4.0),
    (96, 16 * 96, 4.8),  # Legendre-modulated blocks, below Gaussian (about 6.1)
]


@pytest.mark.parametrize("dim, units, bound", COHERENCE)
def test_coherence_is_below_its_bound(dim, units, bound):
    mu = coherence(spread_unit_rows(units, dim))
    # coherence() is a BLAS product: within gram_tolerance of the exact inner products.
    assert mu <= bound / math.sqrt(dim) + gram_tolerance(dim)
    assert mu < math.sqrt(4 * math.log(units) / dim)  # iid Gaussian rows do worse


@pytest.mark.parametrize("m", range(2, 13))
def test_sign_families_are_bent_or_semi_bent(m):
    # |Walsh transform| of sigma_a is 2^(m/2) everywhere (bent) or in {0, 2^((m+1)/2)} (semi-bent);
    # sigma_a * sigma_b = sigma_(a^b), so this covers every pair of extra Hadamard blocks.
    n = 1 << m
    signs = np.array([spread._bent_signs(n, a) for a in range(1, spread._family_size(n) + 1)])
    walsh = np.abs(signs @ walsh_signs(n))
    allowed = {2.0 ** (m // 2)} if m % 2 == 0 else {0.0, 2.0 ** ((m + 1) // 2)}
    assert set(np.unique(walsh).tolist()) <= allowed


def test_field_polynomials_are_irreducible():
    def remainder(a: int, b: int) -> int:
        while a.bit_length() >= b.bit_length():
            a ^= b << (a.bit_length() - b.bit_length())
        return a

    for h, poly in spread._GF_POLY.items():
        assert poly.bit_length() == h + 1
        assert all(remainder(poly, d) for d in range(2, 1 << (h // 2 + 1)) if d.bit_length() <= h // 2 + 1)


def test_selection_avoids_duplicate_columns():
    # Evenly spaced rows (i*N)//K would give identical columns here (column coherence 1.0).
    for dim, units in [(256, 128), (256, 64), (768, 384), (1000, 500), (1024, 256)]:
        w = spread_unit_rows(units, dim)
        cols = w / np.linalg.norm(w, axis=0)
        assert coherence(cols.T) < 0.4
        even = spread_unit_rows(dim, dim)[(np.arange(units) * dim) // units]
        assert coherence((even / np.linalg.norm(even, axis=0)).T) > 1 - 1e-9  # the rule it replaces


def test_selection_is_nested_and_primitive_root_ordered():
    assert spread_selection(16, 8).tolist() == [0, 2, 4, 8, 9, 10, 12, 14]  # p = 17, g = 3
    for n in (1, 2, 10, 64, 1000):
        order = spread._primitive_root_order(n)
        assert sorted(order.tolist()) == list(range(n))
        for k in (1, n // 2, n):
            assert set(spread_selection(n, k)) <= set(spread_selection(n, min(n, k + 1)))


# --- the pinned cosine ----------------------------------------------------------------------------

CONSTANTS = {
    "_COS": [4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
             -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11],
    "_SIN": [-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
             2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10],
}  # fmt: skip
WORDS = {
    "_COS": ["3FA555555555554C", "BF56C16C16C15177", "3EFA01A019CB1590", "BE927E4F809C52AD", "3E21EE9EBDB4B1C4",
             "BDA8FAE9BE8838D4"],
    "_SIN": ["BFC5555555555549", "3F8111111110F8A6", "BF2A01A019C161D5", "3EC71DE357B1FE7D", "BE5AE5E68A2B9CEB",
             "3DE5D93A5ACFD57C"],
}  # fmt: skip


def test_kernel_constants_are_fdlibms_bits():
    for name, decimals in CONSTANTS.items():
        got = getattr(spread, name)
        assert list(got) == decimals
        assert [f"{np.float64(v).view(np.uint64):016X}" for v in got] == WORDS[name]


def test_half_pi_over_n_is_correctly_rounded():
    with mpmath.workdps(50):  # local: mpmath's precision is process-wide state
        for n in (1, 2, 3, 7, 64, 100, 768, 1000, 3072, 65536):
            c = half_pi_over(n)
            exact = mpmath.pi / (2 * n)
            assert abs(mpmath.mpf(c) - exact) <= mpmath.mpf(np.spacing(c)) / 2


def reduced_argument_reference(m: np.ndarray, n: int) -> np.ndarray:
    """cos(pi m / 2n) from math.cos / math.sin at the same octant and float argument x."""
    m = m % (4 * n)
    q = (2 * m + n) // (2 * n)
    r = m - q * n
    out = []
    for qi, ri in zip(q.tolist(), r.tolist(), strict=True):
        x = float(abs(ri)) * half_pi_over(n)
        c, s = math.cos(x), math.copysign(math.sin(x), ri) if ri else 0.0
        out.append([c, -s, -c, s][qi % 4])
    return np.array(out)


def sample_m(n: int) -> np.ndarray:
    if 4 * n <= 6000:
        return np.arange(-4 * n, 8 * n)
    return np.random.default_rng(n).integers(-8 * n, 8 * n, 6000)


NS = [1, 2, 3, 5, 7, 12, 64, 100, 768, 1000, 1001, 3072, 4096, 65536]


@pytest.mark.parametrize("n", NS)
def test_cosine_is_within_two_ulps_of_libm(n):
    # fdlibm's kernels are within 1 ulp of exact, and so is the C library's cos and sin (glibc's
    # documented maximum; it picks FMA or non-FMA code by CPU): together within 2 ulp, wherever run.
    m = sample_m(n)
    got, ref = cos_pi_fraction(m, n), reduced_argument_reference(m, n)
    nonzero = ref != 0
    assert ulps(got[nonzero], ref[nonzero]).max() <= 2.0
    assert np.all(got[~nonzero] == 0.0)


@pytest.mark.parametrize("n", NS)
def test_cosine_is_within_two_ulps_of_the_exact_value(n):
    m = sample_m(n)[:3000]
    got = cos_pi_fraction(m, n)
    with mpmath.workdps(40):  # local: mpmath's precision is process-wide state
        exact = [mpmath.cos(mpmath.pi * int(v) / (2 * n)) for v in m]
    zero = np.array([abs(e) < 1e-30 for e in exact])
    ref = np.array([float(e) for e in exact])
    assert np.all(got[zero] == 0.0)  # odd quarter turns are exactly 0
    assert ulps(got[~zero], ref[~zero]).max() <= 2.0
    assert np.all(np.abs(got) <= 1.0)
    assert np.all(got[m % (2 * n) == 0] == np.where(m[m % (2 * n) == 0] % (4 * n) == 0, 1.0, -1.0))


def test_cosine_matches_numpy_to_rounding():
    for n in (3, 768, 1000):
        m = np.arange(4 * n)  # angles in [0, 2 pi)
        got, numpy_cos = cos_pi_fraction(m, n), np.cos(np.pi * m / (2 * n))
        assert np.abs(got - numpy_cos).max() <= numpy_cos_tolerance(2 * math.pi)


# --- the same bytes everywhere ----------------------------------------------------------------------

GOLDEN = {
    (48, 64): "c5a958f499b48c7858a66770970d761e91be6170904f28ed759b3e07839fbad4",
    (256, 64): "7984c59c948cddd5f84d5586f000a35db8373c7673260dd81fe9f827e7a4c62f",
    (300, 100): "0be0b6c90f15fc56db253ff116ff0f8c2a259b5093f5128028335e89575d3e8d",
    (60, 27): "556e38ee54ac1c53ffb81744cea27ecc759f0303f1b4316f31948eb308ad457a",
    (3072, 768): "dda4e7f07b00b310b33c7ad955c358a2d7174af8fcf9e925a2b14c2f59fb3360",
    (500, 1000): "1e9d8afda3d7a5d1dd93db9733061e6fed3aa83993e577b4b338d21068dd6708",
    (512, 32): "e51e41747335e302e9c171ccb09c77b1f1f8406b8895e728dd73db9e74ea57c8",
}

# The brief's lists of features to switch off. numpy 2.x only accepts the names of its dispatch
# targets here (X86_V3, X86_V4, AVX512_ICL, AVX512_SPR on x86) and ignores the rest with an
# ImportWarning, so the lists are filtered to what this numpy dispatches on.
NO_AVX512 = "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR X86_V4"
NO_AVX2 = NO_AVX512 + " AVX2 FMA3 X86_V3"

PROBE = r"""
import hashlib, json, sys
from numpy._core._multiarray_umath import __cpu_features__
from service.core.spread import spread_unit_rows
shapes = json.loads(sys.argv[1])
print(json.dumps({
    "hashes": [hashlib.sha256(spread_unit_rows(k, n).tobytes()).hexdigest() for k, n in shapes],
    "enabled": sorted(name for name, on in __cpu_features__.items() if on),
}))
"""


def dispatchable(names: str) -> str:
    from numpy._core._multiarray_umath import __cpu_dispatch__

    return " ".join(name for name in names.split() if name in __cpu_dispatch__)


def run_probe(disabled: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    if disabled:
        env["NPY_DISABLE_CPU_FEATURES"] = disabled
    shapes = json.dumps([list(shape) for shape in GOLDEN])
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", PROBE, shapes], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_bytes_match_the_conformance_vectors_in_process():
    for (k, n), digest in GOLDEN.items():
        assert hashlib.sha256(spread_unit_rows(k, n).tobytes()).hexdigest() == digest, (k, n)


@pytest.mark.parametrize("disabled", [NO_AVX512, NO_AVX2], ids=["no-avx512", "no-avx2"])
def test_bytes_are_the_same_with_simd_kernels_disabled(disabled):
    names = dispatchable(disabled)
    result = run_probe(names)
    assert result["hashes"] == list(GOLDEN.values())
    for name in names.split():  # the variable really took effect in the child
        assert name not in result["enabled"]
