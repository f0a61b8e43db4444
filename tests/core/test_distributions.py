"""service/core/distributions.py: the word -> value maps, each distribution's refusals and theory.

The references are the formulas of the module's docstring (docs/ALGORITHM.md section 4) in plain
Python float arithmetic, one element at a time, and scipy for the theory.
"""

import math

import numpy as np
import pytest
from scipy import stats

from service.core.distributions import (
    MIN_TAIL_MASS,
    Constant,
    Normal,
    TruncatedNormal,
    Uniform,
    normal_cdf,
    u01,
    uopen,
)
from service.core.errors import InitError

U64 = 2**64 - 1
WORDS = np.array([0, 1, 1 << 11, 1 << 12, 0x123456789ABCDEF0, U64 >> 1, U64 - (1 << 11), U64], dtype=np.uint64)


def some_words(count: int) -> np.ndarray:
    return np.random.default_rng(20261129).integers(0, U64, size=count, dtype=np.uint64, endpoint=True)


def test_u01_takes_the_53_high_bits_into_0_1():
    expected = [(int(w) >> 11) * 2.0**-53 for w in WORDS]
    np.testing.assert_array_equal(u01(WORDS.copy()), expected)
    assert u01(WORDS.copy()).max() == 1 - 2.0**-53  # never 1


def test_uopen_is_open_at_both_ends_and_complements_exactly():
    expected = [(int(w) >> 12) * 2.0**-52 + 2.0**-53 for w in WORDS]
    np.testing.assert_array_equal(uopen(WORDS.copy()), expected)
    words = some_words(10000)
    np.testing.assert_array_equal(uopen(~words), 1 - uopen(words))
    assert uopen(WORDS.copy()).min() == 2.0**-53 and uopen(WORDS.copy()).max() == 1 - 2.0**-53


def test_a_constant_fills_without_words_and_refuses_a_non_finite_value():
    constant = Constant(-0.5)
    assert not constant.needs_words
    np.testing.assert_array_equal(constant.fill(3), [-0.5, -0.5, -0.5])
    theory = constant.theory
    assert (theory.mean, theory.std, theory.low, theory.high) == (-0.5, 0.0, -0.5, -0.5)
    with pytest.raises(InitError) as error:
        Constant(math.nan)
    assert error.value.param == "value"


@pytest.mark.parametrize(("low", "high"), [(-0.5, 1.5), (1e-300, 3e-300), (-1e300, 1e300), (0.0, 1e-310), (3.0, 3.5)])
def test_uniform_is_its_formula_element_by_element(low, high):
    words = np.concatenate([WORDS, some_words(2000)])
    width = high - low
    expected = [min(low + width * ((int(w) >> 11) * 2.0**-53), high) for w in words]
    np.testing.assert_array_equal(Uniform(low, high).sample(words.copy()), expected)


def test_uniform_reaches_at_most_its_upper_bound():
    top = np.array([U64], dtype=np.uint64)
    for low, high in [(0.0, 1.0), (-1.0, 1.0), (1.0, 1.0000000000000004), (-1e300, 1e300)]:
        assert Uniform(low, high).sample(top.copy())[0] <= high


@pytest.mark.parametrize(
    ("low", "high", "field"), [(1.0, 1.0, "b"), (2.0, 1.0, "b"), (-1e308, 1e308, "b"), (math.inf, 1.0, "a")]
)
def test_uniform_refuses_an_empty_or_unrepresentable_interval(low, high, field):
    with pytest.raises(InitError) as error:
        Uniform(low, high)
    assert error.value.param == field


def test_uniform_theory_is_scipys():
    theory = Uniform(-0.5, 1.5).theory
    expected = stats.uniform(-0.5, 2.0)
    assert (theory.mean, theory.std, theory.kurtosis) == pytest.approx((expected.mean(), expected.std(), 1.8))
    x = np.linspace(-1, 2, 31)
    np.testing.assert_allclose(theory.cdf(x), expected.cdf(x), rtol=0, atol=1e-15)


def test_normal_is_the_affine_map_of_the_standard_normal():
    words = some_words(5000)
    z = Normal(0.0, 1.0).sample(words.copy())
    np.testing.assert_array_equal(Normal(0.5, 2.0).sample(words.copy()), [0.5 + 2.0 * v for v in z])
    # the standard normal is the inverse CDF of uopen: agrees with CPython's to ~1e-15 relative
    from statistics import NormalDist

    reference = [NormalDist().inv_cdf(float(u)) for u in uopen(words.copy())]
    np.testing.assert_allclose(z, reference, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("mean", "std", "field"), [(0.0, 0.0, "std"), (0.0, -1.0, "std"), (math.inf, 1.0, "mean")])
def test_normal_refuses_a_non_positive_std_or_a_non_finite_mean(mean, std, field):
    with pytest.raises(InitError) as error:
        Normal(mean, std)
    assert error.value.param == field


@pytest.mark.parametrize(("a", "b"), [(-2.0, 2.0), (-1.0, 3.0), (0.5, 1.5), (4.0, 6.0)])
def test_a_truncated_normal_and_its_mirror_image_are_negatives_of_each_other(a, b):
    words = some_words(5000)
    upper, lower = TruncatedNormal.sigma(0.0, 1.0, a, b), TruncatedNormal.sigma(0.0, 1.0, -b, -a)
    assert upper.mirrored == (a + b > 0) and not lower.mirrored
    values = upper.sample(words.copy())
    assert values.min() >= a and values.max() <= b
    if upper.mirrored:  # the far bound maps to small probabilities in both: the same z, negated
        np.testing.assert_array_equal(values, -lower.sample(words.copy()) + 0.0)


def test_absolute_and_sigma_bounds_describe_the_same_truncation():
    absolute = TruncatedNormal.absolute(1.0, 0.5, 0.0, 2.5)
    sigma = TruncatedNormal.sigma(1.0, 0.5, -2.0, 3.0)
    assert (absolute.alpha, absolute.beta, absolute.low, absolute.high) == (-2.0, 3.0, 0.0, 2.5)
    assert (sigma.alpha, sigma.beta, sigma.low, sigma.high) == (-2.0, 3.0, 0.0, 2.5)
    words = some_words(1000)
    np.testing.assert_array_equal(absolute.sample(words.copy()), sigma.sample(words.copy()))


def test_truncated_normal_theory_is_scipys():
    theory = TruncatedNormal.sigma(0.5, 2.0, -1.0, 3.0).theory
    expected = stats.truncnorm(-1.0, 3.0, loc=0.5, scale=2.0)
    assert (theory.mean, theory.std) == pytest.approx((expected.mean(), expected.std()), rel=1e-12)
    assert theory.kurtosis == pytest.approx(expected.stats(moments="k") + 3, rel=1e-9)
    assert (theory.low, theory.high) == (-1.5, 6.5)
    x = np.linspace(-2, 7, 37)
    np.testing.assert_allclose(theory.cdf(x), expected.cdf(x), rtol=0, atol=2e-7)  # the pinned Phi: 1.2e-7


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: TruncatedNormal.sigma(0.0, 1.0, 2.0, 2.0), "b"),
        (lambda: TruncatedNormal.absolute(0.0, 1.0, 3.0, -3.0), "b"),
        (lambda: TruncatedNormal.sigma(0.0, 0.0, -2.0, 2.0), "std"),
        (lambda: TruncatedNormal.sigma(0.0, 1.0, 40.0, 41.0), "a"),
        (lambda: TruncatedNormal.absolute(0.0, 1.0, -41.0, -40.0), "a"),
    ],
    ids=["empty", "reversed", "zero-std", "beyond-37-sigma", "beyond-37-sigma-below"],
)
def test_truncated_normal_refuses_an_interval_it_cannot_sample(make, field):
    with pytest.raises(InitError) as error:
        make()
    assert error.value.param == field


def test_the_tail_mass_floor_is_a_normal_float_far_below_any_served_interval():
    assert MIN_TAIL_MASS == 2.0**-1000 and MIN_TAIL_MASS > np.finfo(np.float64).tiny
    assert TruncatedNormal.sigma(0.0, 1.0, 36.0, 37.0).pb > MIN_TAIL_MASS


def test_the_pinned_normal_cdf_is_within_its_stated_error_of_phi():
    z = np.linspace(-12, 12, 2401)
    exact = stats.norm.cdf(z)
    # erfc to 1.2e-7 relative: each tail of Phi is half of it, the other side 1 minus that
    tail = np.minimum(exact, 1 - exact)
    assert np.all(np.abs(normal_cdf(z) - exact) <= 1.2e-7 * tail + 2e-16)
