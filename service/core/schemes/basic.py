"""Constant and plain random fills: zeros, ones, constant, uniform, normal, truncated_normal."""

from __future__ import annotations

from ..complex_distributions import ComplexConstant, ComplexNormal
from ..distributions import Constant, Normal, TruncatedNormal, Uniform
from ..errors import InitError
from ..registry import Context, Elementwise, Example, Paired, Param, Plan, scheme

__all__ = ["MEAN", "STD", "constant", "normal", "ones", "truncated_normal", "uniform", "zeros"]

MEAN = Param("mean", "float", 0.0, "mean of the normal distribution")
STD = Param("std", "float", 1.0, "standard deviation", exclusive_minimum=0.0)


@scheme("zeros", family="constant", aliases=("zero",), example=Example((8, 6)))
def zeros(ctx: Context) -> Plan:
    """Fill with 0.

    Biases and residual-branch outputs (Fixup, zero-init readouts). On a weight matrix every row is
    identical, so gradient descent can never make them differ: the diagnostics flag it.
    """
    return _fill(ctx, 0.0)


def _fill(ctx: Context, value: float) -> Plan:
    """Every element ``value`` (complex tensors: value + 0i)."""
    return Paired(ComplexConstant(value)) if ctx.complex else Elementwise(Constant(value))


@scheme("ones", family="constant", aliases=("one",), example=Example((6,)))
def ones(ctx: Context) -> Plan:
    """Fill with 1.

    Normalization weights (BatchNorm/LayerNorm gamma).
    """
    return _fill(ctx, 1.0)


@scheme(
    "constant",
    family="constant",
    params=(Param("value", "float", description="the fill value"),),
    example=Example((3, 5), {"value": -0.3}),
)
def constant(ctx: Context, value: float) -> Plan:
    """Fill with ``value``.

    PyTorch ``constant_(t, val)``, Keras ``Constant(value)``, JAX ``constant(value)``.
    """
    return _fill(ctx, value)


@scheme(
    "uniform",
    family="elementwise",
    aliases=("random_uniform",),
    params=(Param("a", "float", 0.0, "lower bound"), Param("b", "float", 1.0, "upper bound, greater than a")),
    example=Example((48, 40), {"a": -0.5, "b": 1.5}),
)
def uniform(ctx: Context, a: float, b: float) -> Elementwise:
    """Fill with U(a, b): x = min(a + (b - a) * u, b), u = (w >> 11) * 2**-53 in [0, 1).

    PyTorch ``uniform_(t, a=0, b=1)``. Keras ``RandomUniform(minval, maxval)`` is (a, b) = (-0.05, 0.05);
    JAX ``uniform(scale)`` is one-sided: (a, b) = (0, scale).
    """
    return Elementwise(Uniform(a, b))


@scheme(
    "normal",
    family="elementwise",
    aliases=("random_normal",),
    params=(MEAN, STD),
    example=Example((48, 40), {"mean": 0.1, "std": 0.02}),
)
def normal(ctx: Context, mean: float, std: float) -> Plan:
    """Fill with N(mean, std^2): x = mean + std * ndtri(u), u = (w >> 12) * 2**-52 + 2**-53.

    PyTorch ``normal_(t, mean=0, std=1)``. Keras ``RandomNormal`` uses std 0.05, JAX ``normal`` 0.01.
    ``std`` is the standard deviation, not the variance. Complex (JAX's): (N + iN) * std / sqrt 2,
    mean 0.
    """
    if ctx.complex:
        if mean != 0.0:
            raise InitError("a complex normal has mean 0 (JAX's complex normal has none)", param="mean", allowed="0")
        return Paired(ComplexNormal(std))
    return Elementwise(Normal(mean, std))


@scheme(
    "truncated_normal",
    family="elementwise",
    aliases=("trunc_normal",),
    params=(
        MEAN,
        STD,
        Param("a", "float", -2.0, "lower cut-off (absolute, or in units of std when bounds='sigma')"),
        Param("b", "float", 2.0, "upper cut-off, greater than a"),
        Param(
            "bounds",
            "str",
            "absolute",
            "how to read a and b: 'absolute' values (PyTorch) or multiples of std around the mean (Keras/JAX)",
            choices=("absolute", "sigma"),
        ),
        Param(
            "correct_variance",
            "bool",
            False,
            "divide std by the std of N(0,1) truncated to [a, b], so the result has standard deviation std "
            "(Keras/JAX variance scaling does this with 0.87962566103423978 for [-2, 2]); needs bounds='sigma'",
        ),
    ),
    example=Example((48, 40)),
)
def truncated_normal(
    ctx: Context, mean: float, std: float, a: float, b: float, bounds: str, correct_variance: bool
) -> Elementwise:
    """Fill with N(mean, std^2) truncated to [a, b], by the inverse CDF restricted to [Phi(alpha), Phi(beta)].

    PyTorch ``trunc_normal_(t, mean=0, std=1, a=-2, b=2)`` takes absolute cut-offs: with std=0.02 the
    default [-2, 2] is +-100 sigma, i.e. no truncation. Keras ``TruncatedNormal`` and JAX
    ``truncated_normal`` cut at +-2 std: use bounds='sigma'. Exact in far tails (a = 4, b = 6 sigma):
    no value outside [a, b], none piled at a bound, no rejection loop.
    """
    if bounds == "absolute":
        if correct_variance:
            raise InitError(
                "correct_variance needs bounds='sigma' (with absolute bounds the cut-offs would move with std)",
                param="correct_variance",
                allowed="false, or bounds='sigma'",
            )
        return Elementwise(TruncatedNormal.absolute(mean, std, a, b))
    if correct_variance:  # sigma() refuses a >= b and an unresolvable mass before std is divided
        std = std / TruncatedNormal.sigma(0.0, 1.0, a, b).theory.std
    return Elementwise(TruncatedNormal.sigma(mean, std, a, b))
