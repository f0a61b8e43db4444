"""Pinned log/exp within one ulp of the C library, and reductions in their documented order."""

import math

import mpmath
import numpy as np
import pytest

from service.core.pinned import dot_rows, exp, log, sincos_2pi, tree_sum


def ulps(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    return np.abs(got - expected) / np.spacing(np.abs(expected))


U = np.finfo(np.float64).eps / 2  # unit roundoff
# fdlibm's log and exp are within 1 ulp of exact, and so are the C library's (glibc's documented
# maximum; it picks FMA or non-FMA code by CPU, so its last bit is not the same everywhere):
# the two agree within 2 ulp on any machine. Against the exact value the pinned ones stay within 1.
LIBM_ULPS = 2.0


def exact_ulps(got: np.ndarray, x: np.ndarray, fn) -> float:
    """Largest distance in ulp of ``got`` from fn(x) computed with 40 digits."""
    with mpmath.workdps(40):  # local: other modules set mpmath's global precision for themselves
        exact = [fn(mpmath.mpf(float(v))) for v in x]
        return max(float(abs(mpmath.mpf(float(g)) - e) / float(np.spacing(abs(float(e)))))
                   for g, e in zip(got, exact, strict=True))  # fmt: skip


def test_log_is_within_one_ulp_over_the_normal_range():
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            rng.random(100_000),
            np.exp2(rng.uniform(-1022, 1023, 100_000)),
            1.0 + rng.uniform(-1e-6, 1e-6, 10_000),
            [2.2250738585072014e-308, 0.5, 1.0, 2.0, math.sqrt(2.0), math.sqrt(2.0) / 2, 0.075, 1.7976931348623157e308],
        ]
    )
    expected = np.array([math.log(v) for v in x])
    got = log(x)
    nonzero = expected != 0
    assert ulps(got[nonzero], expected[nonzero]).max() <= LIBM_ULPS
    assert got[x == 1.0][0] == 0.0
    sample = np.concatenate([x[::100], x[-8:]])
    sample = sample[sample != 1.0]
    assert exact_ulps(log(sample), sample, mpmath.log) < 1.0


def test_exp_is_within_one_ulp_and_underflows_gracefully():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-708, 709, 100_000), rng.uniform(-1, 1, 50_000), [0.0, 1.0, -1.0, 709.0]])
    expected = np.array([math.exp(v) for v in x])
    assert ulps(exp(x), expected).max() <= LIBM_ULPS
    sample = x[::100]
    assert exact_ulps(exp(sample), sample, mpmath.exp) < 1.0
    assert exp(np.array([0.0]))[0] == 1.0
    assert exp(np.array([-800.0]))[0] == 0.0


def test_tree_sum_adds_halves_pairwise_and_carries_the_odd_element():
    x = np.array([1e16, 1.0, -1e16, 1.0, 1.0])
    # ((x0 + x2) + (x1 + x3)) + x4 = (0 + 2) + 1; a left-to-right sum gives 2.
    assert tree_sum(x) == 3.0
    assert sum(x.tolist()) == 2.0
    assert tree_sum(np.array([])) == 0.0
    assert tree_sum(np.array([7.5])) == 7.5


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1000])
def test_tree_sum_along_an_axis_equals_the_scalar_recursion(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 3))

    def reference(values: list[float]) -> float:
        while len(values) > 1:
            h = len(values) // 2
            level = [values[i] + values[i + h] for i in range(h)]
            values = level + values[2 * h :]
        return values[0]

    np.testing.assert_array_equal(tree_sum(x, axis=0), [reference(x[:, j].tolist()) for j in range(3)])
    np.testing.assert_array_equal(tree_sum(x.T, axis=1), tree_sum(x, axis=0))


def test_dot_rows_is_tree_sum_of_products():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((5, 33)), rng.standard_normal((4, 33))
    got = dot_rows(a, b)
    for i in range(5):
        for j in range(4):
            assert got[i, j] == tree_sum(a[i] * b[j])
    # BLAS sums in an order of its own: each entry within 33 U sum|a_k b_k| of exact, the tree sum
    # within (log2 33 + 1) U of it; a relative tolerance would fail wherever the sum cancels.
    bound = (33 + 7) * U * (np.abs(a) @ np.abs(b).T)
    assert np.all(np.abs(got - a @ b.T) <= bound)


# sincos_2pi (ALGORITHM.md 12.5): the pinned sine and cosine of 2*pi*u that complex dtypes need.
def test_sincos_2pi_is_within_one_and_a_half_ulp_of_the_exact_values():
    rng = np.random.default_rng(12)
    u = np.concatenate([rng.random(1500), rng.random(200) * 2.0**-20, 0.25 - rng.random(200) * 2.0**-30,
                        np.arange(64) / 64 + 2.0**-53, [2.0**-53, 1 - 2.0**-53, 0.125 - 2.0**-53]])  # fmt: skip
    sine, cosine = sincos_2pi(u)
    with mpmath.workprec(120):  # local, as above
        for x, s, c in zip(u.tolist(), sine.tolist(), cosine.tolist(), strict=True):
            t = 2 * mpmath.pi * mpmath.mpf(x)
            for got, exact in ((s, mpmath.sin(t)), (c, mpmath.cos(t))):
                ulps = abs(mpmath.mpf(got) - exact) / math.ulp(abs(float(exact)))
                assert ulps <= 1.5, (x, got, exact)


def test_sincos_2pi_octants_are_exact_rotations_and_the_eighths_exact():
    u = np.random.default_rng(3).random(10_000) * 0.75
    u = u[(u + 0.25) - 0.25 == u]  # u + 1/4 exact, so the same reduced argument in the next quadrant
    s, c = sincos_2pi(u)
    s4, c4 = sincos_2pi(u + 0.25)
    np.testing.assert_array_equal(s4, c)
    np.testing.assert_array_equal(c4, -s)
    s, c = sincos_2pi(np.arange(8) / 8)
    h = math.sqrt(0.5)
    np.testing.assert_allclose(s, [0, h, 1, h, 0, -h, -1, -h], rtol=2**-52, atol=0)
    np.testing.assert_allclose(c, [1, h, 0, -h, -1, -h, 0, h], rtol=2**-52, atol=0)
    assert s[0] == 0 and s[2] == 1 and c[2] == 0 and s[4] == 0 and c[4] == -1 and s[6] == -1 and c[6] == 0
