"""Fans and gains: how many inputs and outputs a weight connects, and the activation gains.

Layouts name where the input and output axes sit:

    torch       [out, in, *kernel]   fan_in = in * prod(kernel),  fan_out = out * prod(kernel)
    keras, jax  [*kernel, in, out]   fan_in = in * prod(kernel),  fan_out = out * prod(kernel)

JAX's ``in_axis``, ``out_axis`` and ``batch_axis`` (``jax_fans``) name the axes on any layout.
Rank < 2: PyTorch and JAX refuse; Keras uses fan = shape[0] for 1-D and 1 for 0-D. Each layout keeps
its framework's rule. Explicit ``fan_in``/``fan_out`` overrides win over the shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .errors import InitError

__all__ = [
    "LAYOUTS",
    "LINEAR_NONLINEARITIES",
    "NONLINEARITIES",
    "Fans",
    "Layout",
    "axis_index",
    "calculate_gain",
    "jax_fans",
    "matrix_view",
]

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


def axis_index(axis: int, rank: int, param: str) -> int:
    """``axis`` of a rank-``rank`` tensor as a non-negative index (negative counts from the end)."""
    if not -rank <= axis < rank:
        raise InitError(
            f"{param} {axis} is out of range for a tensor with {rank} dimensions",
            param=param,
            allowed=f"an integer from {-rank} to {rank - 1}",
        )
    return axis % rank


def jax_fans(
    shape: tuple[int, ...], in_axis: int | list[int], out_axis: int | list[int], batch_axis: int | list[int]
) -> tuple[int, int]:
    """(fan_in, fan_out) as JAX's ``_compute_fans(shape, in_axis, out_axis, batch_axis)``.

    in_size, out_size, batch_size = the products of the sizes of those axes (an axis or a list);
    receptive = numel / (in_size * out_size * batch_size), the product of every other axis;
    fan_in = in_size * receptive, fan_out = out_size * receptive. Batch axes (say, stacked heads
    or experts) count in neither fan: each slice along them is initialized as its own matrix.
    JAX accepts overlapping axes and then divides into a fractional receptive field; here each axis
    belongs to at most one group, so every fan is an integer.
    """
    groups: dict[str, list[int]] = {}
    owner: dict[int, str] = {}
    for param, axes in (("in_axis", in_axis), ("out_axis", out_axis), ("batch_axis", batch_axis)):
        indices = [axis_index(a, len(shape), param) for a in ([axes] if isinstance(axes, int) else axes)]
        for index in indices:
            if index in owner:
                raise InitError(
                    f"axis {index} is both {owner[index]} and {param}; each axis belongs to one of "
                    "in_axis, out_axis and batch_axis",
                    param=param,
                    allowed="axes distinct from the other groups",
                )
            owner[index] = param
        groups[param] = indices
    in_size = math.prod(shape[i] for i in groups["in_axis"])
    out_size = math.prod(shape[i] for i in groups["out_axis"])
    receptive = math.prod(size for i, size in enumerate(shape) if i not in owner)
    return in_size * receptive, out_size * receptive
