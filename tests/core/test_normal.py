"""The pinned inverse CDF (AS241) and the correctly rounded scalars of the standard normal."""

import decimal
import json
import math
import statistics
from decimal import Decimal
from pathlib import Path

import mpmath
import numpy as np
import pytest
from scipy import stats

from service.core import normal
from service.core.distributions import TruncatedNormal
from service.core.errors import InitError
from service.core.generate import TensorSpec, generate
from service.core.normal import cdf, ndtri, pdf, truncated_moments

# Exact references, computed once by tests/core/normal_references.py (mpmath) and committed.
REFERENCES = json.loads((Path(__file__).parent / "normal_references.json").read_text())


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
    p = np.array([float.fromhex(q["p"]) for q in REFERENCES["quantiles"]])
    got = ndtri(p)
    for xi, q in zip(got, REFERENCES["quantiles"], strict=True):
        exact = Decimal(q["x"])
        assert abs((Decimal(float(xi)) - exact) / exact) < Decimal("1e-15"), q


def test_symmetric_inputs_give_exactly_negated_outputs():
    k = np.arange(0, 2**52, 2**52 // 10007, dtype=np.int64)
    u = k * 2.0**-52 + 2.0**-53
    np.testing.assert_array_equal(ndtri(u), -ndtri(1.0 - u))


@pytest.mark.parametrize("x", [0.0, -0.5, 1.5, -2.0, 2.0, -8.0, 6.0, -20.0, -37.5, 37.0, -40.0, 1e-300])
def test_cdf_and_pdf_are_correctly_rounded(x):
    with mpmath.workdps(50):
        assert cdf(x) == float(mpmath.ncdf(x))
        assert pdf(x) == float(mpmath.npdf(x))


def test_cdf_of_infinities():
    assert cdf(float("inf")) == 1.0
    assert cdf(float("-inf")) == 0.0


@pytest.mark.parametrize("reference", REFERENCES["moments"], ids=lambda r: f"{r['a']}-{r['b']}")
def test_truncated_moments_match_numerical_integration(reference):
    # Independent reference: the moments as integrals of the density, by high-precision quadrature.
    a, b = reference["a"], reference["b"]
    m = truncated_moments(a, b)
    assert m.mass == pytest.approx(float(reference["mass"]), rel=1e-12)
    assert m.mean == pytest.approx(float(reference["mean"]), rel=1e-12, abs=1e-15)
    assert m.std == pytest.approx(float(reference["std"]), rel=1e-10)
    assert m.kurtosis == pytest.approx(float(reference["kurtosis"]), rel=1e-8)
    if -8 < a and b < 8:  # scipy agrees away from the far tails
        assert m.std == pytest.approx(stats.truncnorm(a, b).std(), rel=1e-7)


@pytest.mark.slow
def test_the_committed_references_are_what_their_script_computes():
    from .normal_references import references

    assert json.loads(json.dumps(references())) == REFERENCES


def test_keras_truncation_constant_is_the_correctly_rounded_std():
    assert truncated_moments(-2.0, 2.0).std == 0.87962566103423978


# docs/ALGORITHM.md section 7, "Erratum: the 28-digit exponents". v1 is what the reference serves:
# these pins fail if anyone makes the exponents 100-digit ("fixing" them changes v1's bytes).
_C28 = decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN)


@pytest.mark.parametrize("x", [0.3, -1.1, 1001 / 2**16, 2.6, -4.2, 4.242640687119285, 7.7, -26.1, 38.4])
def test_phi_and_Phi_exponents_are_rounded_to_28_digits(x):
    ctx = normal._context()
    d = Decimal(x)
    s2 = _C28.plus(ctx.multiply(d, d))  # phi: s' = dec28(dec100(x*x))
    expected_pdf = ctx.divide(ctx.exp(ctx.divide(ctx.minus(s2), 2)), ctx.sqrt(ctx.multiply(2, normal.decimal_pi(100))))
    assert normal._pdf_decimal(x, ctx) == expected_pdf
    z = ctx.divide(Decimal(abs(x)), ctx.sqrt(Decimal(2)))
    s = _C28.plus(ctx.multiply(z, z))  # Phi: s = dec28(dec100(z*z)), z = dec100(|x| / dec100(sqrt 2))
    assert s != ctx.multiply(z, z)  # a real rounding
    q = normal._upper_tail(Decimal(abs(x)), ctx)
    q_exact = ctx.divide(_erfc_with_exponent(z, ctx, ctx.multiply(z, z)), 2)
    q_spec = ctx.divide(_erfc_with_exponent(z, ctx, s), 2)
    assert abs(q - q_spec) <= q_spec.scaleb(-90) < abs(q_exact - q_spec)


def _erfc_with_exponent(z: Decimal, ctx: decimal.Context, s: Decimal) -> Decimal:
    """erfc(z) * e^(z^2 - s) at 100 digits, by mpmath (an independent evaluation)."""
    with mpmath.workdps(120):
        zz = mpmath.mpf(str(z))
        value = mpmath.erfc(zz) * mpmath.exp(zz * zz - mpmath.mpf(str(s)))
        if z <= 3:  # the series branch: 1 - erf(z) e^(z^2 - s)
            value = 1 - mpmath.erf(zz) * mpmath.exp(zz * zz - mpmath.mpf(str(s)))
        return ctx.plus(Decimal(mpmath.nstr(value, 110, strip_zeros=False)))


@pytest.mark.parametrize(
    ("a", "b", "served"),
    [
        (3.0, 3.001, "0x1.2eb29f66856e2p-12"),
        (1.0, 1.0001, "0x1.e45106b350b92p-16"),
        (2.0, 2.000001, "0x1.35f66cf275b9fp-22"),
        (-3.0, -2.99, "0x1.7a5cf7dc3a9dep-9"),  # here the erratum does not reach binary64
    ],
)
def test_narrow_interval_std_is_v1_not_the_correctly_rounded_one(a, b, served):
    with mpmath.workdps(80):
        pa, pb = mpmath.npdf(a), mpmath.npdf(b)
        mass = mpmath.ncdf(b) - mpmath.ncdf(a)
        m1, m2 = (pa - pb) / mass, 1 + (a * pa - b * pb) / mass
        correctly_rounded = float(mpmath.sqrt(m2 - m1 * m1))
    std = truncated_moments(a, b).std
    assert std == float.fromhex(served)
    assert (std == correctly_rounded) == (a == -3.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: TruncatedNormal.sigma(0.0, 1.0, -20.0, -19.99999999),
        lambda: TruncatedNormal.sigma(2.0, 0.1, 19.99999999, 20.0),  # mirrored
        lambda: TruncatedNormal.absolute(0.5, 0.02, 0.6, 0.6000000001),
    ],
    ids=["sigma", "mirrored", "absolute"],
)
def test_an_interval_too_narrow_for_its_moments_is_refused_not_a_crash(make):
    # m2 - m1^2 comes out negative with the 28-digit exponents; it used to reach ctx.sqrt and raise
    # decimal.InvalidOperation (an HTTP 500), even without correct_variance (the diagnostics' moments)
    with pytest.raises(InitError) as refused:
        make()
    assert refused.value.param == "b" and "wider" in refused.value.allowed


def test_the_refusal_reaches_the_request_layer_with_the_field():
    with pytest.raises(normal.UnresolvedMoments):
        truncated_moments(-20.0, -19.99999999)
    for params in ({}, {"correct_variance": True}):
        spec = TensorSpec("w", (4, 4), "truncated_normal", {"a": -20.0, "b": -19.99999999, "bounds": "sigma", **params})
        with pytest.raises(InitError) as refused:
            generate(spec, 0)
        assert refused.value.param == "scheme.b", refused.value.param
    # a little wider (1e-7 sigma) the moments resolve: served as before
    assert truncated_moments(-20.0, -19.9999999).std > 0


# docs/ALGORITHM.md section 7: the moments of [alpha, beta] as written, the mirror image only where
# those are unresolved. The as-written values below are the first release's (commit 11225cf), and
# tests/golden/v1.json pins them in tensors (correct_variance) and v1_files.json in headers.
def test_upper_tail_moments_are_computed_as_written_not_mirrored():
    # Phi(x >= 0) = 1 - Q rounded to 100 digits: at 20 sigma Z keeps 11 digits, so the std is not
    # the mirror's (nor the exact one) but it is v1
    assert truncated_moments(20.0, 21.0).std == float.fromhex("0x1.969445e7a3404p-5")
    assert normal._moments(-21.0, -20.0).std == float.fromhex("0x1.9694437ec04dcp-5")
    assert truncated_moments(19.0, 20.0).std == float.fromhex("0x1.aba403dcfef96p-5")
    assert truncated_moments(21.0, 21.5).std == float.fromhex("0x1.54598e7987a50p-2")  # few digits left


@pytest.mark.parametrize(("a", "b"), [(21.5, 22.0), (22.0, 23.0), (25.0, 30.0), (30.0, 45.0)])
def test_the_mirror_applies_only_where_the_moments_as_written_are_unresolved(a, b):
    with pytest.raises(normal.UnresolvedMoments):
        normal._moments(a, b)  # Z = 0 (the first release: decimal.DivisionByZero, no bytes)
    mirror = normal._moments(-b, -a)
    moments = truncated_moments(a, b)
    assert (moments.mass, moments.mean, moments.std, moments.kurtosis) == (
        mirror.mass,
        -mirror.mean,
        mirror.std,
        mirror.kurtosis,
    )


def test_no_mirror_for_an_interval_not_in_the_upper_half():
    with pytest.raises(normal.UnresolvedMoments):
        normal._moments(-20.0, -19.99999999)
    with pytest.raises(normal.UnresolvedMoments):  # alpha <= 0: refused, never mirrored
        truncated_moments(-20.0, -19.99999999)


def test_a_bound_at_zero_resolves():
    # v^0 = 1 also at v = 0 (the first release raised decimal.InvalidOperation on 0^0: no bytes)
    assert truncated_moments(0.0, 2.0).std == truncated_moments(-2.0, 0.0).std == truncated_moments(-2.0, -0.0).std
    assert truncated_moments(0.0, 2.0).mean == -truncated_moments(-2.0, 0.0).mean > 0


def test_an_interval_float64_cannot_resolve_is_served_when_its_moments_resolve():
    # Phi(beta') - Phi(alpha') = 0 in float64: v1 serves it (every p is pa), it is not refused
    dist = TruncatedNormal.sigma(0.0, 1.0, 0.1, 0.10000000000000002)
    assert dist.width == 0.0
    params = {"a": 0.1, "b": 0.10000000000000002, "bounds": "sigma"}
    values = generate(TensorSpec("w", (8,), "truncated_normal", params), 0)
    assert np.all((values >= np.float32(0.1)) & (values <= np.float32(0.10000000000000002)))
