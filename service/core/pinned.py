"""Pinned float64 arithmetic: functions built only from IEEE-754 correctly rounded operations.

numpy's ``log``/``exp`` and its reductions (``sum``, ``dot``, ``matmul``) give different bits on
different CPU dispatch paths, BLAS builds and releases. Everything here uses only + - * / sqrt,
exact scalings by powers of two, integer bit manipulation, comparisons and selections, each
rounded to nearest-even, in an order fixed by the code (and by docs/ALGORITHM.md). The results
are therefore the same on every IEEE-754 machine, in any language that follows the same steps.

Constants are written as hexadecimal float literals so they are exact.
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
from numpy.typing import NDArray

from . import kernels, parallel

__all__ = [
    "INV_LN2",
    "LN2_HI",
    "LN2_LO",
    "MATMUL_BLOCK",
    "PIO4_HI",
    "PIO4_LO",
    "dot_rows",
    "exp",
    "log",
    "matmul",
    "sincos_2pi",
    "tree_sum",
]

# fdlibm e_log.c / e_exp.c constants (Sun Microsystems, 1993).
LN2_HI = float.fromhex("0x1.62e42fee00000p-1")
LN2_LO = float.fromhex("0x1.a39ef35793c76p-33")
INV_LN2 = float.fromhex("0x1.71547652b82fep+0")
_LG = tuple(
    float.fromhex(h)
    for h in (
        "0x1.5555555555593p-1",
        "0x1.999999997fa04p-2",
        "0x1.2492494229359p-2",
        "0x1.c71c51d8e78afp-3",
        "0x1.7466496cb03dep-3",
        "0x1.39a09d078c69fp-3",
        "0x1.2f112df3e5244p-3",
    )
)
_P = tuple(
    float.fromhex(h)
    for h in (
        "0x1.555555555553ep-3",
        "-0x1.6c16c16bebd93p-9",
        "0x1.1566aaf25de2cp-14",
        "-0x1.bbd41c5d26bf1p-20",
        "0x1.6376972bea4d0p-25",
    )
)

_EXP_MASK = np.uint64(0x7FF0000000000000)
_MANT_MASK = np.uint64(0x000FFFFFFFFFFFFF)
_ONE_BITS = np.uint64(0x3FF0000000000000)
_HALF_BITS = np.uint64(0x3FE0000000000000)
_SQRT2_MANT = np.uint64(0x6A09E667F3BCD)  # mantissa bits of sqrt(2) = 0x1.6a09e667f3bcdp+0


def log(x: np.ndarray) -> NDArray[np.float64]:
    """Natural logarithm of positive, normal float64 values (fdlibm's reduction and kernel).

    x = 2**k * (1 + f) with 1 + f in [sqrt(2)/2, sqrt(2)); s = f / (2 + f); z = s*s; w = z*z;
    R = z*(Lg1 + w*(Lg3 + w*(Lg5 + w*Lg7))) + w*(Lg2 + w*(Lg4 + w*Lg6)); hfsq = 0.5*f*f;
    log x = k*ln2_hi - ((hfsq - (s*(hfsq + R) + k*ln2_lo)) - f).
    """
    x = np.asarray(x, dtype=np.float64)
    bits = x.view(np.uint64)
    mant = bits & _MANT_MASK
    high = mant >= _SQRT2_MANT  # 1.m >= sqrt(2): halve it, bump k
    k = (bits >> np.uint64(52)).astype(np.int64) - 1023 + high
    y = (mant | np.where(high, _HALF_BITS, _ONE_BITS)).view(np.float64)
    f = y - 1.0  # exact: y in [0.707, 1.415)
    dk = k.astype(np.float64)
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG[1] + w * (_LG[3] + w * _LG[5]))
    t2 = z * (_LG[0] + w * (_LG[2] + w * (_LG[4] + w * _LG[6])))
    r = t2 + t1
    hfsq = 0.5 * f * f
    return dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)


def exp(x: np.ndarray) -> NDArray[np.float64]:
    """e**x for finite float64 x (fdlibm's reduction and kernel); underflows to 0 below -745.

    k = rint(x / ln2); hi = x - k*ln2_hi; lo = k*ln2_lo; r = hi - lo; t = r*r;
    c = r - t*(P1 + t*(P2 + t*(P3 + t*(P4 + t*P5))));
    e**x = 2**k * (1 - ((lo - (r*c)/(2 - c)) - hi)).
    """
    x = np.clip(np.asarray(x, dtype=np.float64), -746.0, 709.0)
    k = np.rint(x * INV_LN2)
    hi = x - k * LN2_HI
    lo = k * LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (_P[0] + t * (_P[1] + t * (_P[2] + t * (_P[3] + t * _P[4]))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    return np.ldexp(y, k.astype(np.int64))


# fdlibm k_sin.c / k_cos.c (FreeBSD msun's evaluation order) and pi/4 in two parts.
_S = tuple(
    float.fromhex(h)
    for h in (
        "-0x1.5555555555549p-3",
        "0x1.111111110f8a6p-7",
        "-0x1.a01a019c161d5p-13",
        "0x1.71de357b1fe7dp-19",
        "-0x1.ae5e68a2b9cebp-26",
        "0x1.5d93a5acfd57cp-33",
    )
)
_C = tuple(
    float.fromhex(h)
    for h in (
        "0x1.555555555554cp-5",
        "-0x1.6c16c16c15177p-10",
        "0x1.a01a019cb1590p-16",
        "-0x1.27e4f809c52adp-22",
        "0x1.1ee9ebdb4b1c4p-29",
        "-0x1.8fae9be8838d4p-37",
    )
)
PIO4_HI = float.fromhex("0x1.921fb54442d18p-1")
PIO4_LO = float.fromhex("0x1.1a62633145c07p-55")


def sincos_2pi(u: np.ndarray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(sin, cos) of 2*pi*u for float64 u in [0, 1), reduced exactly by octant (ALGORITHM.md 12.5).

    v = 8u, k = floor(v), f = v - k (exact); g = f for even k, 1 - f for odd k (exact);
    x = g * pio4_hi, y = g * pio4_lo; s, c = fdlibm's sine and cosine kernels at x + y in [0, pi/4];
    the octant k picks (sin, cos) among (+-s, +-c) and (+-c, +-s).
    """
    u = np.asarray(u, dtype=np.float64)
    v = u * 8.0
    k = np.floor(v)
    f = v - k
    odd = (k.astype(np.int64) & 1) == 1
    g = np.where(odd, 1.0 - f, f)
    x = g * PIO4_HI
    y = g * PIO4_LO
    z = x * x
    w = z * z
    # k_sin.c: x - ((z*(y/2 - v*r) - y) - v*S1), r = S2 + z*(S3 + z*S4) + z*w*(S5 + z*S6)
    r = (_S[1] + z * (_S[2] + z * _S[3])) + (z * w) * (_S[4] + z * _S[5])
    vx = z * x
    sine = x - ((z * (0.5 * y - vx * r) - y) - vx * _S[0])
    # k_cos.c: hz = z/2, q = 1 - hz; q + (((1 - q) - hz) + (z*r - x*y)),
    # r = z*(C1 + z*(C2 + z*C3)) + w*w*(C4 + z*(C5 + z*C6))
    rc = z * (_C[0] + z * (_C[1] + z * _C[2])) + (w * w) * (_C[3] + z * (_C[4] + z * _C[5]))
    hz = 0.5 * z
    q = 1.0 - hz
    cosine = q + (((1.0 - q) - hz) + (z * rc - x * y))
    octant = k.astype(np.int64)
    swap = ((octant + 1) & 2) == 2  # octants 1, 2, 5, 6: sin from the cosine kernel
    sin_out = np.where(swap, cosine, sine)
    cos_out = np.where(swap, sine, cosine)
    np.negative(sin_out, out=sin_out, where=octant >= 4)
    np.negative(cos_out, out=cos_out, where=(octant >= 2) & (octant <= 5))
    return sin_out, cos_out


def tree_sum(values: np.ndarray, axis: int = 0) -> NDArray[np.float64]:
    """Sum along ``axis`` in a fixed pairwise order, independent of numpy's reduction kernels.

    Each level adds the first half to the second half element by element
    (y[i] = x[i] + x[i + h], h = n // 2) and carries an odd last element to the end, until one
    element remains: for five values ((x0 + x2) + (x1 + x3)) + x4.
    """
    a = np.asarray(values, dtype=np.float64)
    axis = axis % a.ndim
    if a.shape[axis] == 0:
        return np.zeros(a.shape[:axis] + a.shape[axis + 1 :])
    compiled = kernels.extension("_linalg")
    if compiled is not None:
        return _compiled_tree_sum(compiled, a, axis)

    def part(start: int, stop: int) -> np.ndarray:
        return a[(slice(None),) * axis + (slice(start, stop),)]

    # Slicing along the axis in place (no moveaxis) keeps the inner loops on contiguous memory.
    while a.shape[axis] > 1:
        n = a.shape[axis]
        h = n // 2
        level = part(0, h) + part(h, 2 * h)
        a = np.concatenate([level, part(2 * h, n)], axis=axis) if n % 2 else level
    total: NDArray[np.float64] = np.take(a, 0, axis=axis)  # numpy types a take of one index as Any
    return total


def _compiled_tree_sum(compiled: ModuleType, a: NDArray[np.float64], axis: int) -> NDArray[np.float64]:
    """tree_sum by service/core/_linalg.c: the same additions in the same order (independent sums
    side by side in SIMD lanes, a long one vectorised along itself), threads over the sums."""
    a = np.ascontiguousarray(a)
    out = np.empty(a.shape[:axis] + a.shape[axis + 1 :])
    if out.size:
        pre, post = math.prod(a.shape[:axis]), math.prod(a.shape[axis + 1 :])
        compiled.tree_sum(a, pre, a.shape[axis], post, out, parallel.THREADS)
    total: NDArray[np.float64] = out if out.ndim else out[()]  # one sum: a numpy scalar, as np.take gives
    return total


def _compiled_product(compiled: ModuleType, a: np.ndarray, b: np.ndarray, transposed: bool) -> NDArray[np.float64]:
    """a @ b (a @ b.T when transposed) by service/core/_linalg.c, entry (i, j) tree_sum over k of
    a[i, k] * b[k, j]: eight entries of a row side by side in SIMD lanes, threads over columns."""
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    (m, k), n = a.shape, b.shape[0 if transposed else 1]
    if k == 0:
        return np.zeros((m, n))  # empty sums, as tree_sum gives
    out = np.empty((m, n))
    if out.size:
        compiled.matmul(a, b, out, m, k, n, transposed, parallel.THREADS)
    return out


MATMUL_BLOCK = 1 << 22  # products per block of matmul: the block's rows change no result, only memory


def matmul(a: np.ndarray, b: np.ndarray) -> NDArray[np.float64]:
    """Pinned ``a @ b`` for 2-D float64 arrays: entry (i, j) is tree_sum over k of a[i, k] * b[k, j].

    The products are laid out (k, rows, cols), so each level of the tree adds two contiguous
    halves: a few large numpy passes per level, and the same order of additions as tree_sum.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    compiled = kernels.extension("_linalg")
    if compiled is not None and a.ndim == b.ndim == 2 and a.shape[1] == b.shape[0]:
        return _compiled_product(compiled, a, b, transposed=False)
    k = a.shape[1]
    out = np.empty((a.shape[0], b.shape[1]))
    rows = max(1, MATMUL_BLOCK // max(1, k * b.shape[1]))  # bound the temporary to ~32 MiB
    for i in range(0, a.shape[0], rows):
        block = a[i : i + rows].T[:, :, None] * b[:, None, :]
        out[i : i + rows] = tree_sum(block, axis=0)
    return out


def dot_rows(a: np.ndarray, b: np.ndarray) -> NDArray[np.float64]:
    """Pinned ``a @ b.T``: each entry is tree_sum(a[i] * b[j])."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    compiled = kernels.extension("_linalg")
    if compiled is not None and a.ndim == b.ndim == 2 and a.shape[1] == b.shape[1]:
        return _compiled_product(compiled, a, b, transposed=True)  # b's rows are read in place
    return matmul(a, b.T)
