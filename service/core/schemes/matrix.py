"""Schemes that shape a whole weight matrix: orthogonal, sphere_rows, sparse, spread_rows.

A weight's *units* are its output neurons. In the torch layout [out, in, *k] unit u is row u of
the matrix view (rows = shape[0]); in the keras/jax layout [*k, in, out] it is column u of the
view (cols = shape[-1]). Random values still come from word i for element i of the tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import kernels, parallel
from ..bits import philox_words
from ..distributions import Distribution, Normal, Theory
from ..errors import InitError
from ..fans import axis_index, matrix_view
from ..householder import haar_columns
from ..pinned import tree_sum
from ..registry import Context, Example, Param, Whole, scheme
from ..spread import MAX_ELEMENTS as MAX_SPREAD_ELEMENTS
from ..spread import spread_unit_rows

__all__ = [
    "GAIN",
    "MAX_ORTHOGONAL_WORK",
    "PARALLEL_CHUNK",
    "orthogonal",
    "orthogonal_matrix",
    "smallest_per_column",
    "sparse",
    "sphere_rows",
    "spread_rows",
    "standard_normals",
    "stream_words",
    "distribution_values",
    "units_matrix",
    "units_shape",
]

PARALLEL_CHUNK = 1 << 18
_STANDARD_NORMAL = Normal(0.0, 1.0)
MAX_ORTHOGONAL_WORK = 1 << 33  # max(rows, cols) * min(rows, cols)**2: 2048 x 2048
GAIN = Param("gain", "float", 1.0, "multiplies every value", exclusive_minimum=0.0)


def _in_parts(count: int, dtype: type[np.generic], fill: Callable[[int, np.ndarray], None]) -> np.ndarray:
    """``count`` values, ``fill(start, part)`` writing each PARALLEL_CHUNK-sized part, in parallel."""
    out = np.empty(count, dtype=dtype)
    parallel.each(lambda part: fill(part[0], out[part[0] : part[1]]), parallel.ranges(0, count, PARALLEL_CHUNK))
    return out


def stream_words(key: int, count: int, stream: int) -> NDArray[np.uint64]:
    """Words 0 .. count-1 of ``stream``, in parallel parts."""

    def fill(start: int, part: np.ndarray) -> None:
        part[:] = philox_words(key, start, part.size, stream)

    return _in_parts(count, np.uint64, fill)


def distribution_values(dist: Distribution, key: int, count: int) -> NDArray[np.float64]:
    """The float64 values of ``dist`` for words 0 .. count-1, in parallel parts: the compiled
    kernels where active, else its numpy map (the same bytes)."""
    args = dist.kernel

    def fill(start: int, part: np.ndarray) -> None:
        if args is None or not kernels.fill(args, key, start, part, "float64"):
            part[:] = dist.sample(philox_words(key, start, part.size))

    return _in_parts(count, np.float64, fill)


def standard_normals(key: int, count: int) -> NDArray[np.float64]:
    """N(0, 1) values of words 0 .. count-1 (the 'normal' scheme with mean 0, std 1: z + 0 = z,
    since AS241 never gives 0 for a word's uopen)."""
    return distribution_values(_STANDARD_NORMAL, key, count)


def smallest_per_column(keys: np.ndarray, count: int) -> np.ndarray:
    """Row indices of the ``count`` smallest keys of each column, ties to the lower row.

    argpartition is O(n) but breaks ties arbitrarily, so a column whose boundary key repeats is
    redone with a stable sort: the result is exactly the stable sort's first ``count`` rows.
    """
    if count == 0:
        return np.empty((0, keys.shape[1]), dtype=np.intp)
    by_column = np.ascontiguousarray(keys.T)
    chosen = np.argpartition(by_column, count - 1, axis=1)[:, :count]
    boundary = np.take_along_axis(by_column, chosen, axis=1).max(axis=1)
    ties = np.flatnonzero(np.count_nonzero(by_column <= boundary[:, None], axis=1) != count)
    for column in ties:
        chosen[column] = np.argsort(by_column[column], kind="stable")[:count]
    return chosen.T


def units_matrix(values: np.ndarray, ctx: Context) -> np.ndarray:
    """View ``values`` (C order of the tensor) as (units, fan-in vector): rows are output units."""
    rows, cols = matrix_view(ctx.shape, ctx.layout)
    m = values.reshape(rows, cols)
    return m if ctx.layout == "torch" else m.T


def units_shape(ctx: Context) -> tuple[int, int]:
    """(units, length of each unit's vector) of the tensor, without touching any values."""
    rows, cols = matrix_view(ctx.shape, ctx.layout)
    return (rows, cols) if ctx.layout == "torch" else (cols, rows)


def orthogonal_matrix(key: int, rows: int, cols: int, gain: float) -> np.ndarray:
    """gain * Q (rows x cols) with orthonormal rows or columns, whichever are fewer.

    Z = N(0, 1) from words 0 .. rows*cols-1, C order, shaped (max, min); Q = haar_columns(Z);
    the result is Q if rows >= cols else Q^T (PyTorch's orthogonal_ orientation).
    """
    tall, short = max(rows, cols), min(rows, cols)
    work = tall * short * short
    if work > MAX_ORTHOGONAL_WORK:
        raise InitError(
            f"orthogonal on a {rows} x {cols} matrix is beyond the pinned Householder QR's limit "
            f"(max * min^2 = {work} > 2^33, i.e. 2048 x 2048): it is exact on every machine only because it "
            "avoids LAPACK, at O(n^3) operations (2048 x 2048: about 1.5 s compiled, 20 s in numpy)",
            param="shape",
            allowed="max(rows, cols) * min(rows, cols)^2 <= 2^33",
        )
    q = haar_columns(standard_normals(key, tall * short).reshape(tall, short))
    if gain != 1.0:
        q *= gain
    return q if rows >= cols else q.T


def _sphere_theory(radius: float, dim: int, label: str) -> Theory:
    # A uniform unit vector in R^d has E[x^2] = 1/d and kurtosis 3d/(d+2).
    return Theory(
        mean=0.0, std=radius / math.sqrt(dim), low=-radius, high=radius, kurtosis=3.0 * dim / (dim + 2), label=label
    )


@scheme(
    "orthogonal",
    family="matrix",
    random_access=False,
    rank=(2, 99),
    params=(
        GAIN,
        Param(
            "column_axis",
            "int",
            None,
            "the axis whose size is the matrix's columns (JAX); the other axes, flattened in order, are its rows "
            "(default: the layout's rule)",
            implicit=True,
        ),
    ),
    example=Example((24, 40), {"gain": 1.5}),
)
def orthogonal(ctx: Context, gain: float, column_axis: int | None = None) -> Whole:
    """gain * Q, Q Haar-distributed with orthonormal rows (rows <= cols) or columns, by pinned Householder QR.

    Saxe, McClelland & Ganguli (2013), "Exact solutions to the nonlinear dynamics of learning in deep
    linear neural networks". The tensor is flattened as its framework does (torch: rows = shape[0];
    keras/jax: cols = shape[-1]); Z ~ N(0, 1), Z = QR, Q * sign(diag R). With ``column_axis`` (JAX's
    ``orthogonal(scale, column_axis)``) cols = shape[column_axis], rows = the other axes in order,
    and the matrix's column index moves back to that axis. No LAPACK, so the bytes are the same
    everywhere; exact up to max * min^2 = 2^33 (2048 x 2048: about 1.5 s compiled, 20 s in numpy),
    refused above.
    """
    axis = None if column_axis is None else axis_index(column_axis, len(ctx.shape), "column_axis")
    if axis is None:
        rows, cols = matrix_view(ctx.shape, ctx.layout)
    else:
        cols = ctx.shape[axis]
        rows = ctx.numel // cols
    tall, short = max(rows, cols), min(rows, cols)
    if tall * short * short > MAX_ORTHOGONAL_WORK:
        orthogonal_matrix(0, rows, cols, gain)  # raises the size error now, not at generation
    theory = _sphere_theory(gain, tall, f"orthogonal (gain {gain:g})")
    checks: dict[str, Any] = {"gain": gain, "axis": "rows" if rows <= cols else "cols"}
    if axis is None:
        return Whole(
            lambda key: orthogonal_matrix(key, rows, cols, gain).reshape(ctx.shape), theory, {"orthogonal": checks}
        )
    moved = (*ctx.shape[:axis], *ctx.shape[axis + 1 :], cols)

    def build(key: int) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(orthogonal_matrix(key, rows, cols, gain).reshape(moved), -1, axis))

    return Whole(build, theory, {"orthogonal": {**checks, "column_axis": axis}})


@scheme(
    "sphere_rows",
    family="matrix",
    random_access=False,
    rank=(2, 99),
    aliases=("hypersphere", "unit_sphere"),
    params=(Param("radius", "float", 1.0, "norm of every unit's weight vector", exclusive_minimum=0.0),),
    example=Example((24, 40), {"radius": 2.0}),
)
def sphere_rows(ctx: Context, radius: float) -> Whole:
    """Each unit's weight vector z / ||z|| * radius, z ~ N(0, I): uniform on the sphere of that radius.

    The norm is sqrt(tree_sum(z * z)) over the unit's vector; then x = z / norm, x = x * radius.
    Every unit starts with the same norm; directions are independent and uniform.
    """

    count, dim = units_shape(ctx)

    def build(key: int) -> np.ndarray:
        values = standard_normals(key, ctx.numel)
        units = units_matrix(values, ctx)

        def normalize(part: tuple[int, int]) -> None:  # each unit's operations are its own: any split
            block = units[part[0] : part[1]]
            norms = np.sqrt(tree_sum(block * block, axis=1))
            block /= norms[:, None]
            if radius != 1.0:
                block *= radius

        parallel.each(normalize, parallel.ranges(0, count, max(1, PARALLEL_CHUNK // max(dim, 1))))
        return values.reshape(ctx.shape)

    return Whole(build, _sphere_theory(radius, dim, f"sphere rows (radius {radius:g})"), {"row_norm": radius})


@scheme(
    "sparse",
    family="matrix",
    random_access=False,
    rank=(2, 2),
    params=(
        Param(
            "sparsity",
            "float",
            description="fraction of each input's weights set to zero",
            minimum=0.0,
            exclusive_maximum=1.0,
        ),
        Param("std", "float", 0.01, "standard deviation of the non-zero values", exclusive_minimum=0.0),
    ),
    example=Example((40, 24), {"sparsity": 0.25, "std": 0.05}),
)
def sparse(ctx: Context, sparsity: float, std: float) -> Whole:
    """N(0, std^2), then for each input ceil(sparsity * units) of its weights set to 0.

    Martens (2010), "Deep learning via Hessian-free optimization". PyTorch ``sparse_(t, sparsity,
    std=0.01)`` zeroes ceil(sparsity * rows) entries of each column of the [out, in] matrix. Which
    entries: the ones whose word i of stream 1 is smallest (ties: lower unit index first).
    """
    units_count = units_shape(ctx)[0]
    zeros = int(math.ceil(sparsity * units_count))
    dist = Normal(0.0, std)

    def build(key: int) -> np.ndarray:
        values = distribution_values(dist, key, ctx.numel)
        words = stream_words(key, ctx.numel, stream=1)
        compiled = kernels.extension("_kernels")
        if compiled is not None and zeros:
            # The same zeros in one pass per input, with the inputs split between threads.
            rows, cols = matrix_view(ctx.shape, ctx.layout)
            by_columns = ctx.layout == "torch"  # torch: an input is a column of (units, inputs); else a row
            parts = parallel.ranges(0, cols if by_columns else rows, 64)
            parallel.each(lambda g: compiled.sparse_zeros(values, words, rows, cols, zeros, by_columns, *g), parts)
            return values.reshape(ctx.shape)
        chosen = smallest_per_column(units_matrix(words, ctx), zeros)
        np.put_along_axis(units_matrix(values, ctx), chosen, 0.0, axis=0)
        return values.reshape(ctx.shape)

    kept = 1.0 - zeros / units_count
    theory = Theory(
        mean=0.0,
        std=std * math.sqrt(kept),
        kurtosis=3.0 / kept if kept > 0 else None,
        cdf=dist.theory.cdf,
        label=f"sparse N(0, {std:g}^2), {zeros} zeros per input",
    )
    return Whole(build, theory, {"sparse": {"zeros_per_input": zeros}})


@scheme(
    "spread_rows",
    family="matrix",
    random_access=False,
    rank=(2, 99),
    params=(GAIN,),
    example=Example((96, 40)),
)
def spread_rows(ctx: Context, gain: float) -> Whole:
    """gain * S, one row of S per unit, taken in order from orthonormal bases [B_0; B_1; ...] of R^fan_in.

    Deterministic, no seed: unit vectors spread on the sphere. B_0 is the normalized Hadamard matrix when
    fan-in is a power of two, else the orthonormal DCT-II; B_1 the identity; further bases keep the
    coherence low (service/core/spread.py, docs/spread_rows.md). units <= fan-in: rows of B_0 only,
    so orthonormal. Each unit's vector has norm gain.
    """
    units_count, dim = units_shape(ctx)
    spread_unit_rows(0, dim)  # refuses a too large fan-in vector now, not at generation
    if units_count * dim > MAX_SPREAD_ELEMENTS:
        spread_unit_rows(units_count, dim)

    def build(key: int) -> np.ndarray:
        units = spread_unit_rows(units_count, dim)
        if gain != 1.0:
            units *= gain
        return (units if ctx.layout == "torch" else units.T).reshape(ctx.shape)

    theory = Theory(mean=0.0, std=gain / math.sqrt(dim), low=-gain, high=gain, label=f"spread rows (gain {gain:g})")
    checks: dict[str, Any] = {"row_norm": gain}
    if units_count <= dim:
        checks["orthogonal"] = {"gain": gain, "axis": "rows" if ctx.layout == "torch" else "cols"}
    return Whole(build, theory, checks)
