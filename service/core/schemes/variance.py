"""Fan-scaled schemes: variance_scaling and its presets (Xavier/Glorot, Kaiming/He, LeCun).

As in JAX, one engine (variance_scaling) covers the Keras/JAX family; the PyTorch functions keep
PyTorch's own arithmetic (std first, then sqrt(3) * std for the uniform bound) so that their
bounds and standard deviations equal torch's to the last bit.
"""

from __future__ import annotations

import math

from ..complex_distributions import TRUNCATED_COMPLEX_STD_2, ComplexDisk, ComplexNormal, ComplexTruncated
from ..distributions import Normal, TruncatedNormal, Uniform
from ..errors import InitError
from ..fans import NONLINEARITIES, Fans, calculate_gain, jax_fans
from ..registry import Context, Elementwise, Example, Paired, Param, Plan, scheme

__all__ = [
    "GAIN",
    "KAIMING",
    "TRUNCATED_STD_2",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
]

# std of N(0, 1) truncated to [-2, 2], the literal Keras and JAX divide by.
TRUNCATED_STD_2 = 0.87962566103423978

GAIN = Param("gain", "float", 1.0, "multiplies the standard deviation", exclusive_minimum=0.0)
KAIMING = (
    Param("a", "float", 0.0, "negative slope of the rectifier after this layer (used only with leaky_relu)"),
    Param(
        "mode",
        "str",
        "fan_in",
        "fan_in preserves forward variance, fan_out backward",
        choices=("fan_in", "fan_out"),
        casefold=True,
    ),
    Param(
        "nonlinearity",
        "str",
        "leaky_relu",
        "the activation after this layer, for calculate_gain",
        choices=NONLINEARITIES,
    ),
)


def _symmetric_uniform(bound: float) -> Elementwise:
    return Elementwise(Uniform(-bound, bound))


@scheme(
    "variance_scaling",
    family="elementwise",
    params=(
        Param("scale", "float", 1.0, "multiplies the variance (gain squared)", exclusive_minimum=0.0),
        Param(
            "mode",
            "str",
            "fan_in",
            "the fan that divides the variance",
            choices=("fan_in", "fan_out", "fan_avg", "fan_geo_avg"),
        ),
        Param(
            "distribution",
            "str",
            "truncated_normal",
            "truncated_normal (at +-2 std, variance corrected), normal (untruncated) or uniform",
            choices=("truncated_normal", "normal", "uniform"),
            synonyms={"untruncated_normal": "normal"},
        ),
        *(
            Param(name, "axes", None, f"{what} (JAX); giving any of the three computes the fans as JAX does, "
                  "the others taking JAX's defaults in_axis -2, out_axis -1, batch_axis []", implicit=True)
            for name, what in (
                ("in_axis", "the input axis or axes"),
                ("out_axis", "the output axis or axes"),
                ("batch_axis", "axes of independent matrices, in neither fan"),
            )
        ),
    ),
    example=Example((3, 3, 8, 16), layout="keras"),
)  # fmt: skip
def variance_scaling(
    ctx: Context,
    scale: float,
    mode: str,
    distribution: str,
    in_axis: int | list[int] | None = None,
    out_axis: int | list[int] | None = None,
    batch_axis: int | list[int] | None = None,
) -> Plan:
    """variance = scale / fan; truncated_normal: TN(-2, 2) * sqrt(variance) / 0.87962566103423978;
    normal: N(0, variance); uniform: U(-sqrt(3 * variance), sqrt(3 * variance)). Complex tensors
    (JAX's): normal (N + iN) sqrt(variance / 2); uniform on the disk with E|z|^2 = variance;
    truncated_normal a complex normal of std sqrt(variance) / 0.95311164380491208, modulus cut at 2 std.

    JAX ``variance_scaling(scale, mode, distribution)``; fan = fan_in, fan_out, (fan_in + fan_out) / 2
    or sqrt(fan_in * fan_out). Keras calls the untruncated normal 'untruncated_normal' and maps its
    'normal' to the truncated one; here 'normal' is untruncated, as in JAX. With ``in_axis``,
    ``out_axis`` or ``batch_axis`` the fans are JAX's ``_compute_fans`` of the shape, whatever the layout.
    """
    fans = ctx.fans
    if (in_axis, out_axis, batch_axis) != (None, None, None):
        if fans.fan_in_override is not None or fans.fan_out_override is not None:
            raise InitError(
                "give the fans either as fan_in/fan_out or through in_axis/out_axis/batch_axis, not both",
                param="in_axis",
                allowed="axes without fan_in/fan_out",
            )
        axes = (-2 if in_axis is None else in_axis, -1 if out_axis is None else out_axis, batch_axis or [])
        fans = Fans(ctx.shape, "jax", *jax_fans(ctx.shape, *axes))
    variance = scale / fans.by_mode(mode)
    if ctx.complex:  # JAX's complex forms: E|z|^2 = variance (truncated: JAX's constant, see the class)
        scaled = math.sqrt(variance)
        if distribution == "uniform":
            return Paired(ComplexDisk(scaled))
        if distribution == "normal":
            return Paired(ComplexNormal(scaled))
        return Paired(ComplexTruncated(scaled / TRUNCATED_COMPLEX_STD_2))
    if distribution == "uniform":
        return _symmetric_uniform(math.sqrt(3 * variance))
    if distribution == "normal":
        return Elementwise(Normal(0.0, math.sqrt(variance)))
    return Elementwise(TruncatedNormal.sigma(0.0, math.sqrt(variance) / TRUNCATED_STD_2, -2.0, 2.0))


def _xavier_std(ctx: Context, gain: float) -> float:
    """gain * sqrt(2 / (fan_in + fan_out)), in PyTorch's order of operations."""
    return gain * math.sqrt(2.0 / float(ctx.fans.fan_in + ctx.fans.fan_out))


@scheme(
    "xavier_uniform",
    family="elementwise",
    aliases=("glorot_uniform",),
    params=(GAIN,),
    example=Example((48, 40), {"gain": 1.5}),
)
def xavier_uniform(ctx: Context, gain: float) -> Elementwise:
    """U(-bound, bound), std = gain * sqrt(2 / (fan_in + fan_out)), bound = sqrt(3) * std.

    Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
    networks". PyTorch ``xavier_uniform_``, Keras ``GlorotUniform``, JAX ``glorot_uniform``
    (same distribution; Keras/JAX compute the bound as sqrt(3 * variance)).
    """
    return _symmetric_uniform(math.sqrt(3.0) * _xavier_std(ctx, gain))


@scheme("xavier_normal", family="elementwise", aliases=("glorot_normal",), params=(GAIN,), example=Example((48, 40)))
def xavier_normal(ctx: Context, gain: float) -> Elementwise:
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)), untruncated.

    Glorot & Bengio (2010). PyTorch ``xavier_normal_``. Keras ``GlorotNormal`` and JAX
    ``glorot_normal`` truncate at 2 std: variance_scaling(1, fan_avg, truncated_normal).
    """
    return Elementwise(Normal(0.0, _xavier_std(ctx, gain)))


def _kaiming_std(ctx: Context, a: float, mode: str, nonlinearity: str) -> float:
    """gain / sqrt(fan), gain = calculate_gain(nonlinearity, a), fan = fan_in or fan_out by ``mode``."""
    fan = ctx.fans.fan_in if mode == "fan_in" else ctx.fans.fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


@scheme(
    "kaiming_uniform",
    family="elementwise",
    aliases=("he_uniform", "msra_uniform"),
    params=KAIMING,
    example=Example((16, 8, 3, 3), {"a": math.sqrt(5)}),
)
def kaiming_uniform(ctx: Context, a: float, mode: str, nonlinearity: str) -> Elementwise:
    """U(-bound, bound), std = gain / sqrt(fan), bound = sqrt(3) * std, gain = calculate_gain(nonlinearity, a).

    He et al. (2015), "Delving deep into rectifiers". PyTorch ``kaiming_uniform_``; defaults give
    bound = sqrt(6 / fan_in). PyTorch's Linear/Conv default is a = sqrt(5): bound = 1 / sqrt(fan_in).
    """
    return _symmetric_uniform(math.sqrt(3.0) * _kaiming_std(ctx, a, mode, nonlinearity))


@scheme(
    "kaiming_normal",
    family="elementwise",
    aliases=("he_normal", "msra", "msra_normal"),
    params=KAIMING,
    example=Example((16, 8, 3, 3), {"mode": "fan_out", "nonlinearity": "relu"}),
)
def kaiming_normal(ctx: Context, a: float, mode: str, nonlinearity: str) -> Elementwise:
    """N(0, std^2), std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a), untruncated.

    He et al. (2015). PyTorch ``kaiming_normal_``. Keras ``HeNormal`` and JAX ``he_normal`` truncate
    at 2 std: variance_scaling(2, fan_in, truncated_normal).
    """
    return Elementwise(Normal(0.0, _kaiming_std(ctx, a, mode, nonlinearity)))


@scheme("lecun_uniform", family="elementwise", example=Example((40, 48), layout="jax"))
def lecun_uniform(ctx: Context) -> Plan:
    """U(-sqrt(3 / fan_in), sqrt(3 / fan_in)): variance_scaling(1, fan_in, uniform).

    LeCun et al. (1998), "Efficient BackProp". Keras ``LecunUniform``, JAX ``lecun_uniform``.
    """
    return variance_scaling(ctx, 1.0, "fan_in", "uniform")


@scheme("lecun_normal", family="elementwise", example=Example((40, 48), layout="jax"))
def lecun_normal(ctx: Context) -> Plan:
    """TN(-2, 2) * sqrt(1 / fan_in) / 0.87962566103423978: variance_scaling(1, fan_in, truncated_normal).

    Keras ``LecunNormal`` and JAX/Flax ``lecun_normal`` (Flax's Dense default), truncated at 2 std
    with the variance corrected. Self-normalizing (SELU) networks use the untruncated N(0, 1/fan_in):
    kaiming_normal(nonlinearity='linear') or variance_scaling(distribution='normal').
    """
    return variance_scaling(ctx, 1.0, "fan_in", "truncated_normal")
