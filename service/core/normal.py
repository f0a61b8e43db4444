"""The standard normal distribution, pinned: inverse CDF for the value path, exact CDF for scalars.

``ndtri`` is Wichura's AS241 (PPND16, Applied Statistics 37, 1988), relative accuracy about
1e-16, evaluated in float64 with the pinned ``log``: the same operations in the same order as
CPython's ``statistics.NormalDist.inv_cdf``, so on |p - 0.5| <= 0.425 the two agree bit for bit.

Scalars that parametrize a distribution (Phi at truncation bounds, truncated-normal moments) are
computed with Python's ``decimal`` to 100 digits (a series near the centre, a continued fraction in
the tails), then rounded once to float64. Beyond 39 standard deviations Phi and phi round to
exactly 0.

Not quite everything is at 100 digits, and v1 is these bytes (docs/ALGORITHM.md section 7,
"Erratum: the 28-digit exponents"): the first release negated, subtracted and took ``abs()`` of
some Decimals with Python's plain operators, which round to the thread's context, then always
decimal's default (28 digits, ROUND_HALF_EVEN). So the exponent of e^(-...) in Phi and phi is
rounded to 28 digits first, and the moments of very narrow intervals differ from the correctly
rounded ones. Every such place is marked "28 digits" below and now rounds in TWENTY_EIGHT, a
context built here from constants: the bytes never depend on the caller's decimal context
(``getcontext().prec = 60``, another rounding, a trap on Inexact, a changed DefaultContext), and
the memoized scalars are the same whoever computed them first. Do not "fix" the 28-digit places:
that changes v1's bytes (a new version, initw-v2, may). Likewise Phi(x) for x >= 0 is 1 - Q(x) at 100 digits, a
multiple of 1e-100 ("Erratum: Phi above 0"): the moments of intervals in the far upper tail are
those of that Phi (see truncated_moments).
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from . import pinned

__all__ = [
    "DIGITS",
    "SATURATION",
    "SPLIT_CENTRAL",
    "SPLIT_TAIL",
    "TruncatedMoments",
    "UnresolvedMoments",
    "cdf",
    "TWENTY_EIGHT",
    "decimal_pi",
    "ndtri",
    "pdf",
    "pinned_context",
    "truncated_moments",
]

# AS241 PPND16 coefficients, highest degree first (as published; each literal rounds once).
_A = (2.5090809287301226727e3, 3.3430575583588128105e4, 6.7265770927008700853e4,
      4.5921953931549871457e4, 1.3731693765509461125e4, 1.9715909503065514427e3,
      1.3314166789178437745e2, 3.3871328727963666080e0)  # fmt: skip
_B = (5.2264952788528545610e3, 2.8729085735721942674e4, 3.9307895800092710610e4,
      2.1213794301586595867e4, 5.3941960214247511077e3, 6.8718700749205790830e2,
      4.2313330701600911252e1, 1.0)  # fmt: skip
_C = (7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
      1.27045825245236838258e0, 3.64784832476320460504e0, 5.76949722146069140550e0,
      4.63033784615654529590e0, 1.42343711074968357734e0)  # fmt: skip
_D = (1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
      1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e0,
      2.05319162663775882187e0, 1.0)  # fmt: skip
_E = (2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
      2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e0,
      5.46378491116411436990e0, 6.65790464350110377720e0)  # fmt: skip
_F = (2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
      7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
      5.99832206555887937690e-1, 1.0)  # fmt: skip

SPLIT_CENTRAL = 0.425
SPLIT_TAIL = 5.0


def _horner(coefficients: tuple[float, ...], r: NDArray[np.float64], out: NDArray[np.float64]) -> NDArray[np.float64]:
    """((c0*r + c1)*r + c2)*r + ... in place, each step rounded: no fused multiply-add."""
    np.multiply(r, coefficients[0], out=out)
    for c in coefficients[1:-1]:
        np.add(out, c, out=out)
        np.multiply(out, r, out=out)
    np.add(out, coefficients[-1], out=out)
    return out


def ndtri(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Quantile function of N(0, 1) for float64 p in (0, 1) (AS241 PPND16).

    q = p - 0.5. Central, |q| <= 0.425: r = 0.180625 - q*q, x = (A(r) * q) / B(r).
    Tails: r = sqrt(-log(p if q < 0 else 1 - p)); if r <= 5: r = r - 1.6, x = C(r) / D(r);
    else r = r - 5, x = E(r) / F(r); x = -x if q < 0. A..F are the degree-7 polynomials above.
    """
    p = np.asarray(p, dtype=np.float64)
    q = p - 0.5
    r = np.multiply(q, q)
    np.subtract(0.180625, r, out=r)
    x = _horner(_A, r, np.empty_like(p))
    np.multiply(x, q, out=x)
    np.divide(x, _horner(_B, r, np.empty_like(p)), out=x)
    tail = np.flatnonzero(np.abs(q) > SPLIT_CENTRAL)
    if tail.size:
        x[tail] = _ndtri_tail(p[tail], q[tail])
    return x


def _ndtri_tail(p: NDArray[np.float64], q: NDArray[np.float64]) -> NDArray[np.float64]:
    r = np.sqrt(-pinned.log(np.where(q < 0.0, p, 1.0 - p)))
    t = r - 1.6
    x = _horner(_C, t, np.empty_like(t))
    x /= _horner(_D, t, np.empty_like(t))
    far = np.flatnonzero(r > SPLIT_TAIL)  # p < 1.4e-11: rare, patched afterwards
    if far.size:
        t = r[far] - SPLIT_TAIL
        x[far] = _horner(_E, t, np.empty_like(t)) / _horner(_F, t, np.empty_like(t))
    return np.where(q < 0.0, -x, x)


# --- exact scalars ---------------------------------------------------------------------------

DIGITS = 100  # working precision: 80 digits to spare beyond float64, for the moments' cancellation
# Beyond 39 standard deviations Phi and phi are below half the smallest subnormal: their correctly
# rounded values are exactly 0 (and 1 - 0), and a truncation bound there acts as an infinite one.
SATURATION = 39.0


def pinned_context(prec: int) -> decimal.Context:
    """A decimal context of ``prec`` digits made only of constants: ROUND_HALF_EVEN, exponents
    -999999 .. 999999, traps on InvalidOperation, DivisionByZero and Overflow (decimal's defaults,
    written out: ``decimal.Context()`` would copy every unnamed field from DefaultContext, which
    any imported library may change), no flags."""
    return decimal.Context(
        prec=prec,
        rounding=decimal.ROUND_HALF_EVEN,
        Emin=-999999,
        Emax=999999,
        capitals=1,
        clamp=0,
        flags=[],
        traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
    )


# The first release's "plain operator" roundings (the 28-digit erratum): decimal's default context.
TWENTY_EIGHT = pinned_context(28)


def _context() -> decimal.Context:
    return pinned_context(DIGITS)


@lru_cache(maxsize=64)
def decimal_pi(prec: int) -> Decimal:
    """pi by Machin's formula, 16 atan(1/5) - 4 atan(1/239), at ``prec`` digits."""
    ctx = pinned_context(prec + 10)

    def atan_inv(n: int) -> Decimal:
        x = ctx.divide(Decimal(1), Decimal(n))
        x2 = ctx.multiply(x, x)
        total, term, k = x, x, 1
        while True:
            term = ctx.multiply(term, x2)
            contribution = ctx.divide(term, Decimal(2 * k + 1))
            if contribution == 0 or contribution.adjusted() < total.adjusted() - prec - 10:
                break
            total = ctx.subtract(total, contribution) if k % 2 else ctx.add(total, contribution)
            k += 1
        return total

    return ctx.subtract(ctx.multiply(16, atan_inv(5)), ctx.multiply(4, atan_inv(239)))


def _erfc_series(z: Decimal, ctx: decimal.Context) -> Decimal:
    """1 - erf(z), erf(z) = 2/sqrt(pi) e^(-z^2) sum 2^n z^(2n+1) / (2n+1)!!: for z <= 3, where
    1 - erf cancels at most 4 digits."""
    z2 = ctx.multiply(z, z)
    term, total, n = z, z, 0
    while True:
        n += 1
        term = ctx.divide(ctx.multiply(term, ctx.multiply(2, z2)), Decimal(2 * n + 1))
        if term == 0 or term.adjusted() < total.adjusted() - ctx.prec - 2:
            break
        total = ctx.add(total, term)
    # 28 digits: the negation rounds z^2 to 28 digits before exp (part of v1, see the module docstring)
    erf = ctx.multiply(
        ctx.divide(2, ctx.sqrt(decimal_pi(ctx.prec))), ctx.multiply(ctx.exp(TWENTY_EIGHT.minus(z2)), total)
    )
    return ctx.subtract(1, erf)


def _erfc_fraction(z: Decimal, ctx: decimal.Context, terms: int) -> Decimal:
    """erfc(z) = e^(-z^2)/sqrt(pi) / (z + (1/2)/(z + (2/2)/(z + (3/2)/(z + ...)))), z > 3,
    the continued fraction evaluated backwards from ``terms`` levels."""
    t = z
    for k in range(terms, 0, -1):
        t = ctx.add(z, ctx.divide(TWENTY_EIGHT.divide(Decimal(k), 2), t))  # k / 2 at 28 digits: exact
    # 28 digits: the negation rounds z^2 to 28 digits before exp (part of v1)
    exponent = TWENTY_EIGHT.minus(ctx.multiply(z, z))
    return ctx.divide(ctx.exp(exponent), ctx.multiply(ctx.sqrt(decimal_pi(ctx.prec)), t))


def _upper_tail(x: Decimal, ctx: decimal.Context) -> Decimal:
    """Q(x) = 1 - Phi(x) = erfc(x / sqrt 2) / 2 for x >= 0, to ``ctx.prec`` digits."""
    z = ctx.divide(x, ctx.sqrt(Decimal(2)))
    if z <= 3:
        return ctx.divide(_erfc_series(z, ctx), 2)
    terms, value = 64, _erfc_fraction(z, ctx, 64)
    while True:  # deepen until two depths agree to the working precision
        terms *= 2
        deeper = _erfc_fraction(z, ctx, terms)
        # 28 digits: the difference, abs() and scaleb round to 28 digits (this only decides the
        # depth at which the fraction stops)
        near = TWENTY_EIGHT.abs(TWENTY_EIGHT.subtract(deeper, value))
        if TWENTY_EIGHT.compare(near, TWENTY_EIGHT.abs(deeper).scaleb(-(ctx.prec - 5), TWENTY_EIGHT)) <= 0:
            return ctx.divide(deeper, 2)
        value = deeper


def _cdf_decimal(x: float, ctx: decimal.Context) -> Decimal:
    if x <= -SATURATION:
        return Decimal(0)
    if x >= SATURATION:
        return Decimal(1)
    tail = _upper_tail(Decimal(abs(x)), ctx)
    # 100 digits: 1 - tail is a multiple of 1e-100, the tail mass beyond ~20 sigma mostly lost (part of v1)
    return tail if x < 0 else ctx.subtract(1, tail)


def _pdf_decimal(x: float, ctx: decimal.Context) -> Decimal:
    if abs(x) >= SATURATION:
        return Decimal(0)
    d = Decimal(x)  # exact
    # 28 digits: the negation rounds x^2 to 28 digits before exp (part of v1)
    density = ctx.exp(ctx.divide(TWENTY_EIGHT.minus(ctx.multiply(d, d)), 2))
    return ctx.divide(density, ctx.sqrt(ctx.multiply(2, decimal_pi(ctx.prec))))


@lru_cache(maxsize=4096)
def cdf(x: float) -> float:
    """Phi(x) of docs/ALGORITHM.md section 7 (28-digit exponent; for x >= 0, 1 - Q at 100 digits), rounded
    to float64 (exactly 0.0 below -39, 1.0 above 39)."""
    return float(_cdf_decimal(x, _context()))


@lru_cache(maxsize=4096)
def pdf(x: float) -> float:
    """phi(x) = exp(-s/2)/sqrt(2*pi), s = x*x rounded to 28 digits (docs/ALGORITHM.md section 7), rounded
    once to float64 (0.0 beyond +-39)."""
    return float(_pdf_decimal(x, _context()))


class UnresolvedMoments(ArithmeticError):
    """A truncation interval whose moments docs/ALGORITHM.md section 7 leaves unresolved: Z = 0 or
    m2 - m1^2 <= 0 on [alpha, beta] and, for alpha > 0, on its mirror image [-beta, -alpha] too
    (in the first release of v1 these raised decimal.DivisionByZero or InvalidOperation)."""


@dataclass(frozen=True)
class TruncatedMoments:
    """Moments of N(0, 1) truncated to [alpha, beta] (docs/ALGORITHM.md section 7), each rounded once
    to float64 (the kurtosis, for the diagnostics only, from a fourth moment at 28 digits)."""

    mass: float  # Phi(beta) - Phi(alpha)
    mean: float
    std: float
    kurtosis: float  # E[(z - mean)^4] / var^2 (3 for the untruncated normal)


@lru_cache(maxsize=1024)
def truncated_moments(alpha: float, beta: float) -> TruncatedMoments:
    """Raw moments by m_k = (k-1) m_(k-2) + (alpha^(k-1) phi(alpha) - beta^(k-1) phi(beta)) / Z.

    Computed on [alpha, beta] as written: that is v1, bytes served since its first release, also
    where they are inexact. Phi(x) for x >= 0 is 1 - Q(x) rounded to 100 digits, so its tail mass
    has only 100 digits absolute: beyond about 19 standard deviations the moments of an interval in
    the upper tail lose correct digits (still v1), and beyond about 21.5 Z rounds to 0. Only if
    Z = 0 or m2 - m1^2 <= 0 (where the first release raised decimal.DivisionByZero or
    InvalidOperation: no bytes were served) and alpha > 0, the moments are those of the mirror
    image [-beta, -alpha], the mean negated, where Phi keeps every digit. Otherwise, or if the
    mirror is unresolved too, UnresolvedMoments (docs/ALGORITHM.md sections 7 and 8).
    """
    try:
        return _moments(alpha, beta)
    except UnresolvedMoments:
        if not alpha > 0:
            raise
    mirror = _moments(-beta, -alpha)
    return TruncatedMoments(mass=mirror.mass, mean=-mirror.mean, std=mirror.std, kurtosis=mirror.kurtosis)


def _moments(alpha: float, beta: float) -> TruncatedMoments:
    """The moments on [alpha, beta] exactly as the first release of v1 computed them; UnresolvedMoments
    where that raised (Z = 0: the division by it; m2 - m1^2 <= 0: ctx.sqrt, or the kurtosis' division)."""
    ctx = _context()
    mass = ctx.subtract(_cdf_decimal(beta, ctx), _cdf_decimal(alpha, ctx))
    if mass == 0:  # Phi is non-decreasing, so never negative: both bounds beyond +-39, or upper tail beyond ~21
        raise UnresolvedMoments(f"Z = 0 on [{alpha!r}, {beta!r}]")

    def edge(v: float, power: int) -> Decimal:
        if abs(v) >= SATURATION:  # phi is 0 there (infinite bounds included)
            return Decimal(0)
        # v^0 = 1, also at v = 0 (decimal: 0^0 is undefined; the first release raised on a bound of 0)
        scale = Decimal(1) if power == 0 else ctx.power(Decimal(v), power)
        return ctx.multiply(scale, _pdf_decimal(v, ctx))

    raw = [Decimal(1)]
    raw.append(ctx.divide(ctx.subtract(edge(alpha, 0), edge(beta, 0)), mass))
    for k in range(2, 5):
        boundary = ctx.divide(ctx.subtract(edge(alpha, k - 1), edge(beta, k - 1)), mass)
        raw.append(ctx.add(ctx.multiply(k - 1, raw[k - 2]), boundary))
    m1, m2, m3, m4 = raw[1:]
    var = ctx.subtract(m2, ctx.multiply(m1, m1))
    if not var > 0:  # ctx.sqrt would raise InvalidOperation (var < 0), the kurtosis DivisionByZero (var = 0)
        raise UnresolvedMoments(f"m2 - m1^2 = {var:.3e} on [{alpha!r}, {beta!r}]")
    # 28 digits, left to right as the first release's plain operators (diagnostics only):
    # m4 - 4*m1*m3 + 6*m1*m1*m2 - 3*m1**4
    t = TWENTY_EIGHT
    mu4 = t.subtract(
        t.add(t.subtract(m4, t.multiply(t.multiply(4, m1), m3)), t.multiply(t.multiply(t.multiply(6, m1), m1), m2)),
        t.multiply(3, t.power(m1, 4)),
    )
    mu4 = ctx.plus(mu4)
    return TruncatedMoments(
        mass=float(mass),
        mean=float(m1),
        std=float(ctx.sqrt(var)),
        kurtosis=float(ctx.divide(mu4, ctx.multiply(var, var))),
    )
