"""Fans and gains: how many inputs and outputs a weight connects, and the activation gains.

Layouts name where the input and output axes sit:

    torch       [out, in, *kernel]   fan_in = in * prod(kernel),  fan_out = out * prod(kernel)
    keras, jax  [*kernel, in, out]   fan_in = in * prod(kernel),  fan_out = out * prod(kernel)

Rank < 2: PyTorch and JAX refuse; Keras uses fan = shape[0] for 1-D and 1 for 0-D. Each layout keeps
its framework's rule. Explicit ``fan_in``/``fan_out`` overrides win over the shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .errors import InitError

__all__ = ["LAYOUTS", "LINEAR_NONLINEARITIES", "NONLINEARITIES", "Fans", "Layout", "calculate_gain", "matrix_view"]

Layout = Literal["torch", "keras", "jax"]
LAYOUTS: tuple[str, ...] = ("torch", "keras", "jax")

LINEAR_NONLINEARITIES = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)
NONLINEARITIES = (*LINEAR_NONLINEARITIES, "sigmoid", "tanh", "relu", "leaky_relu", "selu")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity, with PyTorch's exact values and errors.

    linear, conv*, sigmoid: 1; tanh: 5/3; relu: sqrt(2); selu: 3/4;
    leaky_relu: sqrt(2 / (1 + negative_slope**2)), negative_slope = param or 0.01
    (squared as negative_slope * negative_slope, one rounding).
    """
    if nonlinearity in LINEAR_NONLINEARITIES or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)) and math.isfinite(param):
            slope = float(param)
        else:
            raise InitError(f"negative_slope {param} not a valid number", param="a", allowed="a finite number")
        return math.sqrt(2.0 / (1 + slope * slope))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise InitError(f"Unsupported nonlinearity {nonlinearity}", param="nonlinearity", allowed=", ".join(NONLINEARITIES))


@dataclass(frozen=True)
class Fans:
    """fan_in and fan_out of one tensor, computed only when a scheme asks for them."""

    shape: tuple[int, ...]
    layout: str = "torch"
    fan_in_override: int | None = None
    fan_out_override: int | None = None

    @property
    def fan_in(self) -> int:
        return self.fan_in_override if self.fan_in_override is not None else self._from_shape()[0]

    @property
    def fan_out(self) -> int:
        return self.fan_out_override if self.fan_out_override is not None else self._from_shape()[1]

    def _from_shape(self) -> tuple[int, int]:
        shape, rank = self.shape, len(self.shape)
        if rank < 2:
            if self.layout == "keras":
                return (shape[0], shape[0]) if rank == 1 else (1, 1)
            raise InitError(
                f"fan_in and fan_out can not be computed for a tensor with fewer than 2 dimensions "
                f"(shape {list(shape)}, layout {self.layout}); pass fan_in and fan_out explicitly",
                param="shape",
                allowed="at least 2 dimensions, or explicit fan_in/fan_out",
            )
        if self.layout == "torch":
            receptive = math.prod(shape[2:])
            return shape[1] * receptive, shape[0] * receptive
        receptive = math.prod(shape[:-2])
        return shape[-2] * receptive, shape[-1] * receptive

    def by_mode(self, mode: str) -> float:
        """The fan that ``mode`` names: fan_in, fan_out, fan_avg or fan_geo_avg."""
        if mode == "fan_in":
            return float(self.fan_in)
        if mode == "fan_out":
            return float(self.fan_out)
        if mode == "fan_avg":
            return (self.fan_in + self.fan_out) / 2.0
        if mode == "fan_geo_avg":
            return math.sqrt(float(self.fan_in) * float(self.fan_out))
        raise InitError(f"mode {mode!r} not supported", param="mode", allowed="fan_in, fan_out, fan_avg, fan_geo_avg")


def matrix_view(shape: tuple[int, ...], layout: str) -> tuple[int, int]:
    """(rows, cols) of the 2-D matrix a framework flattens a weight into for orthogonal init.

    torch: rows = shape[0], cols = prod(shape[1:]); keras/jax: rows = prod(shape[:-1]), cols = shape[-1].
    Both are C-order reshapes of the tensor, so element i of the tensor is element i of the matrix.
    """
    if layout == "torch":
        return shape[0], math.prod(shape[1:])
    return math.prod(shape[:-1]), shape[-1]
