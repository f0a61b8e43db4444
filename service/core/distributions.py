"""Elementwise distributions: one 64-bit word in, one float64 value out.

Every elementwise scheme resolves to one of these four, with parameters computed from fans and
gains; the word -> value maps below are the whole value path (docs/ALGORITHM.md, section 4):

    u01(w)   = (w >> 11) * 2**-53                      in [0, 1), 53 bits
    uopen(w) = (w >> 12) * 2**-52 + 2**-53             in (0, 1), symmetric: uopen(~w) = 1 - uopen(w)

    Constant(c)               c
    Uniform(low, high)        min(low + (high - low) * u01(w), high)
    Normal(mean, std)         mean + std * ndtri(uopen(w))
    TruncatedNormal           see the class

Each also states its theory (mean, std, support, kurtosis, CDF) for the diagnostics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from . import normal
from .errors import InitError
from .kernels import KernelArgs

__all__ = [
    "MIN_TAIL_MASS",
    "Constant",
    "Distribution",
    "Normal",
    "Theory",
    "TruncatedNormal",
    "Uniform",
    "normal_cdf",
    "u01",
    "uopen",
]

_SHIFT_U01 = np.uint64(11)
_SHIFT_UOPEN = np.uint64(12)
_SMALLEST_NORMAL = float.fromhex("0x1p-1022")
_2_52 = float.fromhex("0x1p-52")
_2_53 = float.fromhex("0x1p-53")
_FOLD_MIN = float.fromhex("0x1p-969")  # width * 2**-53 stays normal, so the scaling is exact
MIN_TAIL_MASS = float.fromhex("0x1p-1000")


def u01(words: NDArray[np.uint64]) -> NDArray[np.float64]:
    """(w >> 11) * 2**-53: the 53 high bits as a float in [0, 1)."""
    return (words >> _SHIFT_U01).view(np.int64).astype(np.float64) * float.fromhex("0x1p-53")


def uopen(words: NDArray[np.uint64]) -> NDArray[np.float64]:
    """(w >> 12) * 2**-52 + 2**-53: a float in (0, 1), exact, and 1 - u for the complemented word."""
    k = np.right_shift(words, _SHIFT_UOPEN).view(np.int64)
    u = np.multiply(k, _2_52, dtype=np.float64)  # the int -> float conversion is exact (k < 2**52)
    u += _2_53
    return u


@dataclass(frozen=True)
class Theory:
    """What a tensor drawn from a scheme should look like, for the diagnostics."""

    mean: float
    std: float
    low: float | None = None  # support; None = unbounded
    high: float | None = None
    kurtosis: float | None = None  # E[(x - mean)^4] / std^4; None where undefined
    cdf: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = field(default=None, compare=False)
    label: str = ""


class Distribution:
    """An elementwise distribution: ``sample(words)`` maps each word to one float64 value."""

    needs_words = True
    theory: Theory

    def sample(self, words: NDArray[np.uint64]) -> NDArray[np.float64]:
        raise NotImplementedError

    def fill(self, count: int) -> NDArray[np.float64]:  # only for needs_words = False
        raise NotImplementedError

    @property
    def kernel(self) -> KernelArgs | None:
        """The same map for the compiled kernels (service/core/kernels.py): kind and parameters."""
        return None


def _finite(name: str, value: float) -> float:
    if not np.isfinite(value):
        raise InitError(f"{name} must be a finite number, got {value}", param=name, allowed="a finite number")
    return float(value)


class Constant(Distribution):
    """Every element equals ``value``; consumes no words."""

    needs_words = False

    def __init__(self, value: float):
        self.value = _finite("value", value)
        self.theory = Theory(
            mean=self.value, std=0.0, low=self.value, high=self.value, label=f"constant {self.value:g}"
        )

    def fill(self, count: int) -> NDArray[np.float64]:
        return np.full(count, self.value)


class Uniform(Distribution):
    """U(low, high): x = min(low + (high - low) * u01(w), high), in float64 then rounded once."""

    def __init__(self, low: float, high: float, names: tuple[str, str] = ("a", "b")):
        self.low, self.high = _finite(names[0], low), _finite(names[1], high)
        if not self.low < self.high:
            raise InitError(
                f"{names[0]} must be less than {names[1]}, got {names[0]}={low}, {names[1]}={high}",
                param=names[1],
                allowed=f"a number greater than {names[0]}={low}",
            )
        self.width = self.high - self.low
        if not np.isfinite(self.width):
            raise InitError(f"{names[1]} - {names[0]} overflows float64", param=names[1], allowed="a narrower interval")
        lo, width = self.low, self.width
        self.theory = Theory(
            mean=lo / 2 + self.high / 2,
            std=width / np.sqrt(12.0),
            low=lo,
            high=self.high,
            kurtosis=1.8,
            cdf=lambda x: np.clip((x - lo) / width, 0.0, 1.0),
            label=f"U({lo:g}, {self.high:g})",
        )

    def sample(self, words: NDArray[np.uint64]) -> NDArray[np.float64]:
        """The values of ``words``, which it overwrites (they are scratch once read)."""
        k = np.right_shift(words, _SHIFT_U01, out=words).view(np.int64)
        if self.width >= _FOLD_MIN:
            # k * (width * 2**-53) rounds the same real number as width * (k * 2**-53): one pass fewer.
            x = np.multiply(k, self.width * _2_53, dtype=np.float64)
        else:
            x = k.astype(np.float64) * _2_53
            x *= self.width
        x += self.low
        if self._may_exceed_high:
            np.minimum(x, self.high, out=x)
        return x

    @property
    def kernel(self) -> KernelArgs | None:
        # _kernels.c: low, width, k's scale (0: scale by 2**-53, then by width), high, clamp
        scale = self.width * _2_53 if self.width >= _FOLD_MIN else 0.0
        return 0, (self.low, self.width, scale, self.high, float(self._may_exceed_high))

    @cached_property
    def _may_exceed_high(self) -> bool:
        # x is nondecreasing in k (rounding is monotone), so the largest k decides whether the
        # clamp can ever act; skipping it when it cannot leaves every value unchanged.
        top = float(2**53 - 1)
        x = top * (self.width * _2_53) if self.width >= _FOLD_MIN else (top * _2_53) * self.width
        return x + self.low > self.high


class Normal(Distribution):
    """N(mean, std^2): x = mean + std * ndtri(uopen(w))."""

    def __init__(self, mean: float, std: float):
        self.mean, self.std = _finite("mean", mean), _finite("std", std)
        if not self.std > 0:
            raise InitError(f"std must be positive, got {std}", param="std", allowed="a number > 0")
        m, s = self.mean, self.std
        self.theory = Theory(
            mean=m, std=s, kurtosis=3.0, cdf=lambda x: normal_cdf((x - m) / s), label=f"N({m:g}, {s:g}^2)"
        )

    def sample(self, words: NDArray[np.uint64]) -> NDArray[np.float64]:
        z = normal.ndtri(uopen(words))
        return _affine(z, self.mean, self.std)

    @property
    def kernel(self) -> KernelArgs | None:
        return 1, (self.mean, self.std)


def _affine(z: NDArray[np.float64], mean: float, std: float) -> NDArray[np.float64]:
    """mean + std * z, two roundings. Multiplying by 1 is exact and skipped; adding 0 is not
    skipped, since 0 + (-0) is +0."""
    if std != 1.0:
        z *= std
    z += mean
    return z


class TruncatedNormal(Distribution):
    """N(mean, std^2) restricted to [low, high], by the inverse CDF on [Phi(alpha), Phi(beta)].

    alpha, beta are the bounds in standard units. When alpha + beta > 0 the interval is mirrored
    to [-beta, -alpha] and the result negated, so that the far bound maps to small probabilities,
    where float64 resolves them: samples stay accurate in far tails such as [4, 6] sigma.

        pa, pb = Phi(alpha'), Phi(beta')      correctly rounded, alpha' <= beta' after mirroring
        p = max(pa + (pb - pa) * uopen(w), 2**-1022)
        z = clip(ndtri(p), alpha', beta'), negated if mirrored
        x = clip(mean + std * z, low, high)
    """

    def __init__(self, mean: float, std: float, alpha: float, beta: float, low: float, high: float):
        self.mean, self.std = _finite("mean", mean), _finite("std", std)
        if not self.std > 0:
            raise InitError(f"std must be positive, got {std}", param="std", allowed="a number > 0")
        self.alpha, self.beta = float(alpha), float(beta)
        self.low, self.high = float(low), float(high)
        if not (np.isfinite(self.alpha) and np.isfinite(self.beta) and self.alpha < self.beta):
            raise InitError(
                f"truncation bounds must satisfy a < b (in standard units {alpha} .. {beta})",
                param="b",
                allowed="b > a",
            )
        self.mirrored = self.alpha + self.beta > 0
        lo, hi = (-self.beta, -self.alpha) if self.mirrored else (self.alpha, self.beta)
        self.pa, self.pb = normal.cdf(lo), normal.cdf(hi)
        if self.pb < MIN_TAIL_MASS:
            raise InitError(
                f"the truncation interval lies {min(abs(lo), abs(hi)):.1f} standard deviations from the mean; "
                "float64 cannot resolve its probability mass (at most about 37 standard deviations)",
                param="a",
                allowed="bounds within 37 standard deviations of the mean",
            )
        # width may be 0 (an interval too narrow for float64's Phi): v1 serves it, every p is then pa
        self.width = self.pb - self.pa
        self.z_low, self.z_high = lo, hi
        try:
            moments = normal.truncated_moments(self.alpha, self.beta)
        except normal.UnresolvedMoments:
            raise InitError(
                f"the truncation interval (in standard units {alpha} .. {beta}) is too narrow for its moments: "
                "the variance of the truncated normal, computed as the algorithm specifies, is not positive",
                param="b",
                allowed="a wider interval [a, b] (wider than about 1e-7 standard deviations)",
            ) from None
        m, s, a, b = self.mean, self.std, self.alpha, self.beta
        flip = self.mirrored

        def cdf(x: NDArray[np.float64]) -> NDArray[np.float64]:
            z = (x - m) / s
            if flip:  # (Q(alpha) - Q(z)) / (Q(alpha) - Q(beta)), Q(t) = Phi(-t): accurate in upper tails
                qa, qb = normal_cdf(np.array(-a)), normal_cdf(np.array(-b))
                return np.clip((qa - normal_cdf(-z)) / (qa - qb), 0.0, 1.0)
            pa, pb = normal_cdf(np.array(a)), normal_cdf(np.array(b))
            return np.clip((normal_cdf(z) - pa) / (pb - pa), 0.0, 1.0)

        self.theory = Theory(
            mean=m + s * moments.mean,
            std=s * moments.std,
            low=self.low,
            high=self.high,
            kurtosis=moments.kurtosis,
            cdf=cdf,
            label=f"TN({m:g}, {s:g}^2; [{self.low:g}, {self.high:g}])",
        )

    @classmethod
    def absolute(cls, mean: float, std: float, a: float, b: float) -> TruncatedNormal:
        """PyTorch's trunc_normal_: absolute cut-offs a < b."""
        mean, std, a, b = _truncation_args(mean, std, a, b)
        return cls(mean, std, (a - mean) / std, (b - mean) / std, a, b)

    @classmethod
    def sigma(cls, mean: float, std: float, a: float, b: float) -> TruncatedNormal:
        """Keras/JAX: bounds a < b in units of std around the mean."""
        mean, std, a, b = _truncation_args(mean, std, a, b)
        return cls(mean, std, a, b, mean + std * a, mean + std * b)

    def sample(self, words: NDArray[np.uint64]) -> NDArray[np.float64]:
        p = uopen(words)
        p *= self.width
        p += self.pa
        np.maximum(p, _SMALLEST_NORMAL, out=p)
        z = normal.ndtri(p)
        np.clip(z, self.z_low, self.z_high, out=z)
        if self.mirrored:
            np.negative(z, out=z)
        x = _affine(z, self.mean, self.std)
        return np.clip(x, self.low, self.high, out=x)

    @property
    def kernel(self) -> KernelArgs | None:
        params = (self.mean, self.std, self.pa, self.width, self.z_low, self.z_high, float(self.mirrored))
        return 2, (*params, self.low, self.high)


def _truncation_args(mean: float, std: float, a: float, b: float) -> tuple[float, float, float, float]:
    """Finite numbers with std > 0 and a < b, or an InitError naming the offending one."""
    mean, std, a, b = _finite("mean", mean), _finite("std", std), _finite("a", a), _finite("b", b)
    if not a < b:
        raise InitError(f"a must be less than b, got a={a}, b={b}", param="b", allowed=f"a number greater than a={a}")
    if not std > 0:
        raise InitError(f"std must be positive, got {std}", param="std", allowed="a number > 0")
    return mean, std, a, b


# Pinned Phi for the diagnostics' KS statistic: erfc by Numerical Recipes' erfcc (relative error
# < 1.2e-7, ample for a statistic reported to 4 digits) with the pinned exp.
_ERFCC = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806,
          0.09678418, 0.37409196, 1.00002368, -1.26551223)  # fmt: skip


def normal_cdf(z: NDArray[np.float64]) -> NDArray[np.float64]:
    from .pinned import exp

    x = np.abs(np.asarray(z, dtype=np.float64)) * float.fromhex("0x1.6a09e667f3bcdp-1")  # |z| / sqrt(2)
    t = 1.0 / (1.0 + 0.5 * x)
    poly = np.full_like(x, _ERFCC[0])
    for c in _ERFCC[1:]:
        poly = poly * t + c
    erfc = t * exp(-x * x + poly)
    half = 0.5 * erfc
    return np.where(np.asarray(z) < 0, half, 1.0 - half)
