"""The pinned inverse CDF (AS241) and the correctly rounded scalars of the standard normal."""

import math
import statistics

import mpmath
import numpy as np
import pytest
from scipy import stats

from service.core.normal import cdf, ndtri, pdf, truncated_moments

mpmath.mp.dps = 50


def as241_scalar(p: float) -> float:
    """AS241 PPND16 in scalar Python floats (each operation correctly rounded, no FMA)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = (((((((2.5090809287301226727e3 * r + 3.3430575583588128105e4) * r + 6.7265770927008700853e4) * r
                   + 4.5921953931549871457e4) * r + 1.3731693765509461125e4) * r + 1.9715909503065514427e3) * r
                 + 1.3314166789178437745e2) * r + 3.3871328727963666080e0) * q  # fmt: skip
        den = (((((((5.2264952788528545610e3 * r + 2.8729085735721942674e4) * r + 3.9307895800092710610e4) * r
                   + 2.1213794301586595867e4) * r + 5.3941960214247511077e3) * r + 6.8718700749205790830e2) * r
                 + 4.2313330701600911252e1) * r + 1.0)  # fmt: skip
        return num / den
    return math.nan  # tails use log: compared to within ulps below


def test_central_region_is_bit_identical_to_a_scalar_as241():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.075, 0.925, 50_000)
    got = ndtri(p)
    expected = np.array([as241_scalar(v) for v in p])
    np.testing.assert_array_equal(got, expected)


def test_agrees_with_cpython_statistics_inv_cdf_everywhere():
    rng = np.random.default_rng(1)
    p = np.concatenate(
        [rng.random(20_000), 10.0 ** rng.uniform(-300, -1, 20_000), 1 - 10.0 ** rng.uniform(-16, -1, 5_000)]
    )
    inv = statistics.NormalDist().inv_cdf
    expected = np.array([inv(v) for v in p])
    np.testing.assert_allclose(ndtri(p), expected, rtol=2e-15, atol=0)


def test_relative_error_against_the_exact_quantile_is_below_1e_15():
    rng = np.random.default_rng(2)
    p = np.concatenate([rng.random(300), 10.0 ** rng.uniform(-300, -1, 300), 1 - 10.0 ** rng.uniform(-15, -1, 100)])
    got = ndtri(p)
    for pi, xi in zip(p, got, strict=True):
        exact = mpmath.findroot(lambda t, pi=pi: mpmath.ncdf(t) - mpmath.mpf(pi), mpmath.mpf(float(xi)))
        assert abs((mpmath.mpf(float(xi)) - exact) / exact) < 1e-15


def test_symmetric_inputs_give_exactly_negated_outputs():
    k = np.arange(0, 2**52, 2**52 // 10007, dtype=np.int64)
    u = k * 2.0**-52 + 2.0**-53
    np.testing.assert_array_equal(ndtri(u), -ndtri(1.0 - u))


@pytest.mark.parametrize("x", [0.0, -0.5, 1.5, -2.0, 2.0, -8.0, 6.0, -20.0, -37.5, 37.0, -40.0, 1e-300])
def test_cdf_and_pdf_are_correctly_rounded(x):
    assert cdf(x) == float(mpmath.ncdf(x))
    assert pdf(x) == float(mpmath.npdf(x))


def test_cdf_of_infinities():
    assert cdf(float("inf")) == 1.0
    assert cdf(float("-inf")) == 0.0


@pytest.mark.parametrize(("a", "b"), [(-2.0, 2.0), (4.0, 6.0), (-6.0, -4.0), (-1.0, 3.0), (0.5, 0.6), (-30.0, -29.0)])
def test_truncated_moments_match_numerical_integration(a, b):
    # Independent reference: the moments as integrals of the density, by high-precision quadrature.
    mpmath.mp.dps = 40
    points = mpmath.linspace(a, b, 64)
    mass = mpmath.quad(mpmath.npdf, points)
    mean = mpmath.quad(lambda x: x * mpmath.npdf(x), points) / mass
    var = mpmath.quad(lambda x: (x - mean) ** 2 * mpmath.npdf(x), points) / mass
    fourth = mpmath.quad(lambda x: (x - mean) ** 4 * mpmath.npdf(x), points) / mass
    m = truncated_moments(a, b)
    assert m.mass == pytest.approx(float(mass), rel=1e-12)
    assert m.mean == pytest.approx(float(mean), rel=1e-12, abs=1e-15)
    assert m.std == pytest.approx(float(mpmath.sqrt(var)), rel=1e-10)
    assert m.kurtosis == pytest.approx(float(fourth / var**2), rel=1e-8)
    if -8 < a and b < 8:  # scipy agrees away from the far tails
        assert m.std == pytest.approx(stats.truncnorm(a, b).std(), rel=1e-7)


def test_keras_truncation_constant_is_the_correctly_rounded_std():
    assert truncated_moments(-2.0, 2.0).std == 0.87962566103423978
