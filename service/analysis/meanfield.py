"""Mean-field signal propagation (Poole et al. 2016; Schoenholz et al. 2017), exact as width -> inf.

For a layer with weight variance sigma_w^2 / fan_in and bias variance sigma_b^2:

    q-map      q' = sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2            (z ~ N(0, 1))
    chi_1      = sigma_w^2 E[phi'(sqrt(q*) z)^2]   < 1 ordered, = 1 critical, > 1 chaotic
    depth      gradients scale like chi_1^L; trainable for L up to a few xi = -1 / ln chi_1

Expectations use Gauss-Hermite quadrature with an even number of nodes (200), so that the kink
of ReLU-like activations at 0 is never a node (an odd count puts one there: chi_1(relu) = 0.876).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .activations import ACTIVATIONS

__all__ = ["NODES", "Phase", "expectation", "fixed_point", "second_moment", "slope"]

NODES = 200


@lru_cache(maxsize=1)
def _quadrature() -> tuple[np.ndarray, np.ndarray]:
    z, w = np.polynomial.hermite_e.hermegauss(NODES)  # weight exp(-z^2 / 2)
    return z, w / math.sqrt(2.0 * math.pi)


def expectation(values: np.ndarray) -> float:
    """E[f(z)] given f at the quadrature nodes."""
    return float(np.dot(_quadrature()[1], values))


def second_moment(activation: str, q: float) -> float:
    """E[phi(sqrt(q) z)^2]."""
    z = _quadrature()[0]
    return expectation(ACTIVATIONS[activation].f(math.sqrt(max(q, 0.0)) * z) ** 2)


def slope(activation: str, q: float) -> float:
    """E[phi'(sqrt(q) z)^2]."""
    z = _quadrature()[0]
    return expectation(ACTIVATIONS[activation].df(math.sqrt(max(q, 0.0)) * z) ** 2)


@dataclass(frozen=True)
class Phase:
    q_star: float | None  # None when q runs off to 0 or infinity
    chi1: float
    phase: str  # ordered | critical | chaotic
    depth_scale: float | None  # 1 / |ln chi1|: layers over which gradients change by e (None at criticality)


def fixed_point(activation: str, sigma_w2: float, sigma_b2: float, q0: float = 1.0, steps: int = 2000) -> Phase:
    """Iterate the q-map from q0 to its fixed point q*, then chi_1 there."""
    q = q0
    for _ in range(steps):
        nxt = sigma_w2 * second_moment(activation, q) + sigma_b2
        if not math.isfinite(nxt) or nxt > 1e12:
            q = math.inf
            break
        if abs(nxt - q) <= 1e-12 * max(q, 1e-300):
            q = nxt
            break
        q = nxt
    if not math.isfinite(q):
        chi = math.inf
        return Phase(None, chi, "chaotic", None)
    chi = sigma_w2 * slope(activation, q)
    if not chi > 0:  # no weight variance (all-zero weights): the gradient vanishes within one layer
        return Phase(q if q > 1e-300 else 0.0, 0.0, "ordered", 0.0)
    phase = "critical" if abs(math.log(chi)) < 1e-3 else ("ordered" if chi < 1 else "chaotic")
    depth = None if phase == "critical" else 1.0 / abs(math.log(chi))
    return Phase(q if q > 1e-300 else 0.0, chi, phase, depth)
