"""Complex elementwise distributions: two 64-bit words in, one complex value out (as JAX draws them).

Element i of a complex tensor takes words 2i and 2i+1 of the tensor's stream (docs/ALGORITHM.md
section 8.1), so any element range is still generated on its own. The three shapes are JAX's
(``jax.random.normal`` for complex dtypes and ``jax.nn.initializers``' complex variance scaling):

    ComplexNormal(s)      re = s/sqrt2 * z(w0),  im = s/sqrt2 * z(w1)         z = ndtri(uopen(w))
    ComplexDisk(s)        rho = sqrt(2 u01(w0)) * s,  (sin, cos) = sincos_2pi(u01(w1))
                          re = rho * cos, im = rho * sin: uniform on the disk of radius s*sqrt2
    ComplexTruncated(s)   t = C * u01(w0), C = 1 - e^-4;  X = 0 - log_v1(1 - t);  rho = sqrt(X) * s
                          re = rho * cos, im = rho * sin: a complex normal (E|z|^2 = s^2) whose
                          modulus is cut at 2s
    ComplexConstant(c)    c + 0i, no words

Every value is float64 (each part) before the one rounding to the stored format. The theory
describes the real and imaginary parts pooled (the diagnostics read them so).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from .distributions import Distribution, Normal, Theory, u01
from .errors import InitError
from .pinned import log, sincos_2pi

__all__ = [
    "ONE_MINUS_EXP_MINUS_4",
    "TRUNCATED_COMPLEX_STD_2",
    "ComplexConstant",
    "ComplexDisk",
    "ComplexDistribution",
    "ComplexNormal",
    "ComplexTruncated",
]

ONE_MINUS_EXP_MINUS_4 = float.fromhex("0x1.f69f5523ef618p-1")  # 1 - e^-4, correctly rounded
# The literal JAX divides by for its complex truncated normal (its comment: "stddev of complex
# standard normal truncated to 2"); the truncated modulus gives E|z|^2 = 0.92537 before it, so
# after it E|z|^2 = 1.01866 * variance. Kept: the issue is to draw what JAX draws.
TRUNCATED_COMPLEX_STD_2 = 0.95311164380491208
_TRUNCATED_E_X = (1 - 5 * math.exp(-4.0)) / (1 - math.exp(-4.0))  # E[X], X ~ Exp(1) cut at 4 (= |z|^2)
_TRUNCATED_E_X2 = (2 - 26 * math.exp(-4.0)) / (1 - math.exp(-4.0))  # E[X^2]


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise InitError(f"{name} must be a finite number, got {value}", param=name, allowed="a finite number")
    return float(value)


class ComplexDistribution(Distribution):
    """``pair(w0, w1)`` maps the two words of each element to its complex value (complex128)."""

    def pair(self, w0: NDArray[np.uint64], w1: NDArray[np.uint64]) -> NDArray[np.complex128]:
        raise NotImplementedError

    def fill_pairs(self, count: int) -> NDArray[np.complex128]:  # only for needs_words = False
        raise NotImplementedError


def _joined(re: NDArray[np.float64], im: NDArray[np.float64]) -> NDArray[np.complex128]:
    out = np.empty(re.size, dtype=np.complex128)
    out.real, out.imag = re, im
    return out


class ComplexConstant(ComplexDistribution):
    """value + 0i."""

    needs_words = False

    def __init__(self, value: float):
        self.value = _finite("value", value)
        self.theory = Theory(mean=self.value / 2, std=abs(self.value) / 2, label=f"constant {self.value:g} + 0i")

    def fill_pairs(self, count: int) -> NDArray[np.complex128]:
        return np.full(count, complex(self.value, 0.0))


class ComplexNormal(ComplexDistribution):
    """(N(0, 1) + i N(0, 1)) * std / sqrt 2: E|z|^2 = std^2, each part N(0, std^2 / 2)."""

    def __init__(self, std: float):
        self.std = _finite("std", std)
        if not self.std > 0:
            raise InitError(f"std must be positive, got {std}", param="std", allowed="a number > 0")
        self.part = Normal(0.0, self.std / math.sqrt(2.0))
        self.theory = replace(self.part.theory, label=f"CN(0, {self.std:g}^2), parts")

    def pair(self, w0: NDArray[np.uint64], w1: NDArray[np.uint64]) -> NDArray[np.complex128]:
        return _joined(self.part.sample(w0), self.part.sample(w1))


def _polar(rho: NDArray[np.float64], w1: NDArray[np.uint64]) -> NDArray[np.complex128]:
    sin, cos = sincos_2pi(u01(w1))
    return _joined(rho * cos, rho * sin)


class ComplexDisk(ComplexDistribution):
    """Uniform on the disk of radius scale * sqrt 2 (E|z|^2 = scale^2): JAX's complex 'uniform'."""

    def __init__(self, scale: float):
        self.scale = _finite("scale", scale)
        radius = self.scale * math.sqrt(2.0)

        def cdf(x: NDArray[np.float64]) -> NDArray[np.float64]:  # a part of a uniform disk: semicircle law
            v = np.clip(x / radius, -1.0, 1.0)
            return 0.5 + (v * np.sqrt(1.0 - v * v) + np.arcsin(v)) / math.pi

        self.theory = Theory(mean=0.0, std=self.scale / math.sqrt(2.0), low=-radius, high=radius, kurtosis=2.0,
                             cdf=cdf, label=f"disk(radius {radius:g}), parts")  # fmt: skip

    def pair(self, w0: NDArray[np.uint64], w1: NDArray[np.uint64]) -> NDArray[np.complex128]:
        rho = np.sqrt(2.0 * u01(w0))
        rho *= self.scale
        return _polar(rho, w1)


class ComplexTruncated(ComplexDistribution):
    """A complex normal with E|z|^2 = std^2 before its modulus is cut at 2 std: JAX's complex
    'truncated_normal' (|z|^2 / std^2 is Exp(1) cut at 4)."""

    def __init__(self, std: float):
        self.std = _finite("std", std)
        part_std = self.std * math.sqrt(_TRUNCATED_E_X / 2)
        # A part is rho cos(theta): E[x^4] = E[rho^4] * 3/8, E[x^2] = E[rho^2] / 2.
        kurtosis = 1.5 * _TRUNCATED_E_X2 / _TRUNCATED_E_X**2
        self.theory = Theory(mean=0.0, std=part_std, low=-2 * self.std, high=2 * self.std, kurtosis=kurtosis,
                             label=f"CN(0, {self.std:g}^2) cut at |z| = {2 * self.std:g}, parts")  # fmt: skip

    def pair(self, w0: NDArray[np.uint64], w1: NDArray[np.uint64]) -> NDArray[np.complex128]:
        t = u01(w0)
        t *= ONE_MINUS_EXP_MINUS_4
        x = 0.0 - log(1.0 - t)  # 1 - t in (e^-4, 1]: positive and normal; 0 - 0 is +0
        rho = np.sqrt(x)
        rho *= self.std
        return _polar(rho, w1)
