"""Activation functions and their derivatives, built on the pinned exp, so that anything computed
through them (LSUV's rescaling, pre-training) is as reproducible as the bytes.

    linear x        relu max(x, 0)         leaky_relu x if x > 0 else 0.01 x
    tanh            1 - 2 / (e^(2x) + 1)   sigmoid 1 / (1 + e^(-x))
    selu            lambda (x if x > 0 else alpha (e^x - 1)), alpha = 1.6732632423543772, lambda = 1.0507009873554805
    gelu            x Phi(x) (exact form; Phi by the pinned erfc)
    silu            x sigmoid(x)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.distributions import normal_cdf
from ..core.pinned import exp

__all__ = ["ACTIVATIONS", "Activation", "LEAKY_SLOPE", "NAMES", "SELU_ALPHA", "SELU_SCALE"]

LEAKY_SLOPE = 0.01
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
_INV_SQRT_2PI = float.fromhex("0x1.9884533d43651p-2")  # 1/sqrt(2 pi)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + exp(-x))


def _tanh(x: np.ndarray) -> np.ndarray:
    return 1.0 - 2.0 / (exp(2.0 * x) + 1.0)


@dataclass(frozen=True)
class Activation:
    """phi and phi', and what counts as a dead or saturated unit for it."""

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]
    rectifier: bool = False  # dead units: pre-activation <= 0 for every input
    saturation: Callable[[np.ndarray], np.ndarray] | None = None  # saturated outputs


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("linear", lambda x: x.copy(), np.ones_like),
        Activation("relu", lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(np.float64), rectifier=True),
        Activation(
            "leaky_relu",
            lambda x: np.where(x > 0, x, LEAKY_SLOPE * x),
            lambda x: np.where(x > 0, 1.0, LEAKY_SLOPE),
            rectifier=True,
        ),
        Activation("tanh", _tanh, lambda x: 1.0 - _tanh(x) ** 2, saturation=lambda y: np.abs(y) > 0.99),
        Activation(
            "sigmoid",
            _sigmoid,
            lambda x: _sigmoid(x) * (1.0 - _sigmoid(x)),
            saturation=lambda y: (y < 0.01) | (y > 0.99),
        ),
        Activation(
            "selu",
            lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (exp(np.minimum(x, 0.0)) - 1.0)),
            lambda x: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * exp(np.minimum(x, 0.0))),
        ),
        Activation(
            "gelu",
            lambda x: x * normal_cdf(x),
            lambda x: normal_cdf(x) + x * _INV_SQRT_2PI * exp(-0.5 * x * x),
        ),
        Activation("silu", lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) * (1.0 + x * (1.0 - _sigmoid(x)))),
    )
}
NAMES = tuple(ACTIVATIONS)
