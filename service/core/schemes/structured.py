"""Identity-like schemes: eye, dirac (convolution identity) and delta_orthogonal."""

from __future__ import annotations

import math

import numpy as np

from ..distributions import Theory
from ..errors import InitError
from ..registry import Context, Example, Param, Placed, Whole, scheme
from .matrix import orthogonal_matrix

__all__ = [
    "MAX_DIRAC_ONES",
    "MAX_FLAT",
    "MAX_MATRIX",
    "MAX_POSITIONS",
    "delta_orthogonal",
    "dirac",
    "eye",
    "hadamard_identity",
]

# Plans are made before a request's element count is checked: what they hold in memory is bounded
# here, from the dimensions alone. These bounds refuse no tensor v1 ever served (an eye with
# MAX_POSITIONS diagonal entries has at least 2^44 elements; hadamard_identity's matrix is at most
# its tensor, refused beyond MAX_WHOLE_ELEMENTS anyway). Dirac's ones can be as many as its
# elements (shape [n, 1, 1], groups n): its bound is the default INITW_MAX_ELEMENTS (2^32), which
# no dirac v1 served under the default settings exceeds; beyond it the int64 positions alone
# would take 32 GiB, a crash, not a file.
MAX_POSITIONS = 1 << 22  # eye: int64 positions of the diagonal entries (a few copies)
MAX_DIRAC_ONES = 1 << 32
MAX_FLAT = (1 << 63) - 1  # the largest flat element index an int64 position holds
MAX_MATRIX = 1 << 25  # hadamard_identity's [out, in] float64 matrix, as generate.MAX_WHOLE_ELEMENTS


def _at_most(count: int, limit: int, what: str) -> None:
    if count > limit:
        raise InitError(f"{what}: {count:,} is more than {limit:,}", param="shape", allowed=f"at most {limit:,}")


def _sparse_theory(value: float, count: int, numel: int, label: str) -> Theory:
    """Theory of a tensor holding ``count`` entries equal to ``value`` and zeros elsewhere."""
    mean = value * count / numel
    second = value * value * count / numel
    return Theory(
        mean=mean, std=math.sqrt(max(second - mean * mean, 0.0)), low=min(0.0, value), high=max(0.0, value), label=label
    )


def _channels(ctx: Context) -> tuple[int, int, tuple[int, ...]]:
    """(out channels, in channels, kernel shape) of a [out, in, *k] (torch) or [*k, in, out] tensor."""
    if ctx.layout == "torch":
        return ctx.shape[0], ctx.shape[1], ctx.shape[2:]
    return ctx.shape[-1], ctx.shape[-2], ctx.shape[:-2]


def _centre_tap(ctx: Context, centre: tuple[int, ...], tap: np.ndarray) -> np.ndarray:
    """Zeros, except ``tap`` at kernel position ``centre``: tap is [out, in] (torch) or [in, out]."""
    full = slice(None)
    index: tuple[int | slice, ...] = (full, full, *centre) if ctx.layout == "torch" else (*centre, full, full)
    w = np.zeros(ctx.shape)
    w[index] = tap
    return w


@scheme(
    "eye",
    family="structured",
    aliases=("identity",),
    rank=(2, 2),
    params=(Param("gain", "float", 1.0, "the diagonal value"),),
    example=Example((5, 7), {"gain": 2.0}),
)
def eye(ctx: Context, gain: float) -> Placed:
    """W[i, j] = gain if i == j else 0; non-square allowed.

    PyTorch ``eye_`` (gain 1), Keras ``Identity(gain)``. Preserves the identity of the inputs in
    linear layers; IRNN (Le, Jaitly & Hinton, 2015) uses it for recurrent weights.
    """
    rows, cols = ctx.shape
    _at_most(min(rows, cols), MAX_POSITIONS, "eye holds its diagonal's positions in memory; diagonal entries")
    diagonal = np.arange(min(rows, cols))
    theory = _sparse_theory(gain, diagonal.size, rows * cols, f"eye (gain {gain:g})")
    return Placed(diagonal * (cols + 1), gain, theory, {"exact": "eye"})


@scheme(
    "dirac",
    family="structured",
    rank=(3, 5),
    params=(Param("groups", "int", 1, "number of convolution groups; output channels must divide evenly", minimum=1),),
    example=Example((6, 3, 3, 3), {"groups": 2}),
)
def dirac(ctx: Context, groups: int) -> Placed:
    """Convolution identity: 1 at [g*opg + d, d, k1//2, ...] for d < min(opg, in), opg = out // groups.

    PyTorch ``dirac_(t, groups=1)`` in the torch layout [out, in, *k]; in keras/jax [*k, in, out]
    the same entries sit at [k1//2, ..., d, g*opg + d]. The centre is k//2 (upper-middle for even k,
    as PyTorch). Inputs are passed through unchanged on the first min(opg, in) channels of each group.
    """
    torch = ctx.layout == "torch"
    out_ch, in_ch, spatial = _channels(ctx)
    if out_ch % groups:
        raise InitError(
            f"output channels ({out_ch}) must be divisible by groups ({groups})",
            param="groups",
            allowed=f"a divisor of {out_ch}",
        )
    per_group = out_ch // groups
    width = min(per_group, in_ch)
    _at_most(groups * width, MAX_DIRAC_ONES, "dirac holds the positions of its ones in memory; ones (groups x width)")
    out_index = (np.arange(groups)[:, None] * per_group + np.arange(width)[None, :]).reshape(-1)
    in_index = np.tile(np.arange(width), groups)
    centre = [np.full(out_index.size, k // 2) for k in spatial]
    index = (out_index, in_index, *centre) if torch else (*centre, in_index, out_index)
    theory = _sparse_theory(1.0, groups * width, ctx.numel, f"dirac (groups {groups})")
    _at_most(ctx.numel, MAX_FLAT, "dirac places its ones by flat int64 index; elements")  # ravel_multi_index's limit
    return Placed(np.ravel_multi_index(index, ctx.shape), 1.0, theory, {"exact": "dirac"})


@scheme(
    "delta_orthogonal",
    family="structured",
    random_access=False,
    rank=(3, 5),
    params=(Param("gain", "float", 1.0, "multiplies the orthogonal centre tap", exclusive_minimum=0.0),),
    example=Example((3, 3, 8, 16), layout="jax"),
)
def delta_orthogonal(ctx: Context, gain: float) -> Whole:
    """Zeros except the kernel centre ((k-1)//2 per axis), which is gain * an orthogonal in -> out map.

    Xiao et al. (2018), "Dynamical isometry and a mean field theory of CNNs". JAX
    ``delta_orthogonal(scale)`` in the keras/jax layout [*k, in, out]; in the torch layout the centre
    [out, in] holds the transpose, so both layouts give the same map. Needs in <= out.
    """
    out_ch, in_ch, spatial = _channels(ctx)
    if in_ch > out_ch:
        raise InitError(
            f"delta_orthogonal needs input channels <= output channels, got in={in_ch}, out={out_ch}",
            param="shape",
            allowed="in <= out",
        )
    centre = tuple((k - 1) // 2 for k in spatial)
    rows, cols = (out_ch, in_ch) if ctx.layout == "torch" else (in_ch, out_ch)

    def build(key: int) -> np.ndarray:
        return _centre_tap(ctx, centre, orthogonal_matrix(key, rows, cols, gain))

    # The centre holds in_ch unit columns: sum of squares in_ch * gain^2, mean about 0.
    theory = Theory(
        mean=0.0,
        std=gain * math.sqrt(in_ch / ctx.numel),
        low=-gain,
        high=gain,
        label=f"delta orthogonal (gain {gain:g})",
    )
    return Whole(build, theory, {"exact": "delta_orthogonal", "gain": gain})


def _sylvester(rows: int, cols: int) -> np.ndarray:
    """The first rows and columns of a Sylvester-Hadamard matrix (of any order >= both), entries +-1:
    H[i, j] = (-1)^popcount(i & j), so the order never has to be built."""
    return np.where(np.bitwise_count(np.arange(rows)[:, None] & np.arange(cols)[None, :]) % 2 == 1, -1.0, 1.0)


@scheme(
    "hadamard_identity",
    family="structured",
    random_access=False,
    rank=(2, 5),
    params=(
        Param("gain", "float", 1.0, "multiplies every value (sqrt 2: the paper's constant)", exclusive_minimum=0.0),
    ),
    example=Example((20, 12, 3)),
)
def hadamard_identity(ctx: Context, gain: float) -> Whole:
    """ZerO: W = I (out <= in), else c * H_p[:out, :in], p = 2^ceil(log2 out), c = 1 / sqrt(p); no randomness.

    Zhao, Schäfer & Anandkumar (2022), "ZerO Initialization: Initializing Neural Networks with
    only Zeros and Ones". Deterministic: a (partial) identity, or the first columns of a
    normalized Sylvester-Hadamard matrix when a layer widens, where a padded identity would leave
    units at zero (with few inputs some rows repeat, as in the paper). c follows the
    authors' code; the paper writes sqrt(2 / p) (gain = sqrt(2)). Convolutions: zeros except the
    kernel centre (k // 2 per axis), which holds the matrix. The tensor is [out, in, *k] (torch)
    or [*k, in, out] (keras/jax).
    """
    out_ch, in_ch, spatial = _channels(ctx)
    centre = tuple(k // 2 for k in spatial)
    _at_most(out_ch * in_ch, MAX_MATRIX, "hadamard_identity builds its [out, in] matrix in memory; out x in")
    if out_ch <= in_ch:
        matrix = np.eye(out_ch, in_ch)
    else:
        size = 1 << (out_ch - 1).bit_length()
        matrix = _sylvester(out_ch, in_ch) * (1.0 / math.sqrt(size))
    if gain != 1.0:
        matrix = matrix * gain

    tap = matrix if ctx.layout == "torch" else matrix.T

    def build(key: int) -> np.ndarray:
        return _centre_tap(ctx, centre, tap)

    scale = float(np.abs(matrix).max())
    mean = float(matrix.sum()) / ctx.numel
    second = float((matrix * matrix).sum()) / ctx.numel
    theory = Theory(mean=mean, std=math.sqrt(max(second - mean * mean, 0.0)), low=-scale, high=scale,
                    label=f"ZerO (gain {gain:g})")  # fmt: skip
    return Whole(build, theory, {"exact": "hadamard_identity"})
