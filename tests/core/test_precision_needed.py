"""How many digits section 7's exact scalars take (docs/ALGORITHM.md, "How many digits a port needs").

A port of section 7 at P significant digits, written here with mpmath from the doc's formulas (both
28-digit roundings, Phi above 0 held as 1 - Q' with Q' on the 10^-100 grid), is compared with the
reference's float64 mass, mean and std of every truncation interval the golden vectors use: binary128
(113 bits, 34 digits) differs on some narrow ones, 53 digits reproduce them all.
"""

import json
import math
from decimal import ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path

import mpmath
import pytest
from mpmath import mpf

from service.core import normal
from tests.golden.make_v1 import spec_of

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "v1.json").read_text())["cases"]
NEEDED = 53  # the figure docs/ALGORITHM.md states for the golden vectors


@cache
def golden_intervals() -> dict[tuple[float, float], tuple[str, ...]]:
    """Every [alpha, beta] whose moments the reference computes for a golden vector, with the cases."""
    seen: list[tuple[float, float]] = []
    original = normal.truncated_moments

    def record(alpha: float, beta: float) -> normal.TruncatedMoments:
        seen.append((alpha, beta))
        return original(alpha, beta)

    found: dict[tuple[float, float], set[str]] = {}
    normal.truncated_moments = record  # distributions.py looks it up on the module at each call
    try:
        for case_id, case in GOLDEN.items():
            seen.clear()
            spec_of(case).plan  # noqa: B018  # builds the distributions, which compute the moments
            for interval in seen:
                found.setdefault(interval, set()).add(case_id)
    finally:
        normal.truncated_moments = original
    return {interval: tuple(sorted(ids)) for interval, ids in found.items()}


def dec(v: mpf, digits: int) -> mpf:
    """v rounded to ``digits`` significant decimal digits, ties to even (section 7's dec_n)."""
    if not v:
        return v
    sign, man, exp, _ = v._mpf_
    exact = (-1) ** sign * Fraction(int(man)) * Fraction(2) ** int(exp)
    context = Context(prec=digits, rounding=ROUND_HALF_EVEN, Emin=-999999, Emax=999999)
    return mpf(str(context.divide(Decimal(exact.numerator), Decimal(exact.denominator))))


def upper(x: mpf) -> mpf:
    """Q(x) = Phi(-x) for 0 <= x < 39, with s = dec28(z^2) as written."""
    z = x / mpmath.sqrt(2)
    s = dec(z * z, 28)
    if x * x <= 18:
        return (1 - mpmath.erf(z) * mpmath.exp(z * z - s)) / 2
    return mpmath.erfc(z) * mpmath.exp(z * z - s) / 2


def on_grid(x: mpf) -> mpf:
    """Q' with Phi(x) = dec100(1 - Q(x)) = 1 - Q' for x >= 0: Q on the 10^-100 grid."""
    return mpf(0) if x >= 39 else mpmath.nint(upper(x) * mpf(10) ** 100) / mpf(10) ** 100


def mass(alpha: mpf, beta: mpf) -> mpf:
    """Z = Phi(beta) - Phi(alpha) without cancelling 1 - Q' against 1 - Q'."""
    lower = lambda x: mpf(0) if x <= -39 else upper(-x)  # noqa: E731  # Phi(x) for x < 0
    if alpha >= 0:
        return on_grid(alpha) - on_grid(beta)
    if beta < 0:
        return lower(beta) - lower(alpha)
    return (1 - on_grid(beta)) - lower(alpha)


def density(x: mpf) -> mpf:
    return mpf(0) if abs(x) >= 39 else mpmath.exp(-dec(x * x, 28) / 2) / mpmath.sqrt(2 * mpmath.pi)


def moments_at(alpha: float, beta: float, *, dps: int | None = None, prec: int | None = None):
    """(mass, mean, std) as float64 from a port carrying ``dps`` digits (or ``prec`` bits); None
    where it finds the moments unresolved (Z = 0 or var <= 0)."""
    with mpmath.workdps(dps) if dps else mpmath.workprec(prec):
        a, b = mpf(alpha), mpf(beta)
        z = mass(a, b)
        if z == 0:
            return None
        m1 = (density(a) - density(b)) / z
        m2 = 1 + (a * density(a) - b * density(b)) / z
        var = m2 - m1 * m1
        if not var > 0:
            return None
        return float(z), float(m1), float(mpmath.sqrt(var))


def reference(alpha: float, beta: float):
    try:
        moments = normal._moments(alpha, beta)  # as written, before the mirror rule (none applies here)
    except normal.UnresolvedMoments:
        return None
    return moments.mass, moments.mean, moments.std


def differing(**precision) -> dict[tuple[float, float], tuple[str, ...]]:
    return {
        interval: cases
        for interval, cases in golden_intervals().items()
        if moments_at(*interval, **precision) != reference(*interval)
    }


def test_the_golden_vectors_reach_section_7_on_many_intervals():
    intervals = golden_intervals()
    assert len(intervals) >= 70
    assert any(b - a < 1e-15 for a, b in intervals)  # bounds one binary64 step apart
    assert any(a > 20 for a, _ in intervals)  # the far upper tail, where Phi is 1 - Q on the grid


def test_binary128_is_not_enough_for_the_narrow_golden_intervals():
    """113 bits (IEEE binary128, 34 digits) miss the std of intervals up to 1e-5 sigma wide."""
    wrong = differing(prec=113)
    assert (2.9999995, 3.0000005) in wrong  # truncated_normal-narrow-*-3w1e-06
    assert (-0.001, -0.0009999999999999998) in wrong  # resolved by the reference, var <= 0 in binary128
    assert moments_at(-0.001, -0.0009999999999999998, prec=113) is None
    assert "truncated_normal-narrow-corrected-3w1e-06/float64" in wrong[(2.9999995, 3.0000005)]
    assert all(b - a <= 1e-5 * (1 + 1e-9) for a, b in wrong)  # only narrow intervals: the tails resolve
    assert len(differing(dps=34)) >= 5


def test_fifty_digits_still_miss_an_interval_one_step_wide():
    assert set(differing(dps=50)) == {(0.002, 0.0020000000000000005), (-0.001, -0.0009999999999999998)}


def test_the_stated_precision_reproduces_every_golden_interval():
    assert differing(dps=NEEDED) == {}
    assert differing(dps=NEEDED + 7) == {}


def test_the_port_is_section_7_and_not_a_copy_of_the_reference():
    """Sanity of the port above: far from any cancellation it agrees with mpmath's own exact
    functions, where the 28-digit roundings and the 10^-100 grid do not reach float64."""
    with mpmath.workdps(60):
        z = mpmath.ncdf(6) - mpmath.ncdf(4)
        assert moments_at(4.0, 6.0, dps=40)[0] == float(z)
    assert math.isclose(moments_at(-2.0, 2.0, dps=40)[2], 0.87962566103423978, rel_tol=1e-16)


@pytest.mark.parametrize("width", [1e-6, 1e-5])
def test_the_doc_states_the_rule_of_thumb(width):
    """2 log10(1/w) + 26 digits (docs/ALGORITHM.md) suffice for the golden narrow intervals of width w."""
    digits = math.ceil(2 * math.log10(1 / width) + 26)
    narrow = {(a, b) for a, b in golden_intervals() if math.isclose(b - a, width, rel_tol=1e-6)}
    assert narrow
    for interval in narrow:
        assert moments_at(*interval, dps=digits) == reference(*interval)
