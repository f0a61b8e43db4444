"""spread_rows: K unit vectors in R^N spread evenly on the sphere, without sampling (docs/spread_rows.md).

Construction. W = [B_0; B_1; B_2; ...]: orthonormal bases of R^N stacked block after block, full
blocks in their natural row order, the last block truncated to the rows ``spread_selection``
picks (K <= N: a single truncated block, so the rows are orthonormal).

* B_0: Sylvester-Hadamard H[i, j] = (-1)^popcount(i & j) / sqrt(N) when N = 2^m, else the
  orthonormal DCT-II, row k = cos(pi k (2j + 1) / (2N)) over j, normalized.
* B_1: the identity. Coherence with B_0: 1/sqrt(N) (Hadamard), sqrt(2/N) (DCT).
* B_t, t >= 2: member (t - 2) mod F of a family of F extra bases, its columns multiplied by the
  Legendre signs lambda_q(j) = chi_p(j + q), q = (t - 2) div F (lambda_0 = 1):
  - N = 2^m, m >= 2, F = 2^h - 1, h = ceil(m/2): H * diag(sigma_a), a = 1..F,
    sigma_a(x) = (-1)^popcount(lo(x) & gfmul(a, hi(x))), lo = the low h bits of x, hi = the
    other m - h bits, gfmul = product in GF(2^h). Maiorana-McFarland functions: bent for even m,
    semi-bent for odd m, and sigma_a * sigma_b = sigma_(a xor b), so the F + 2 bases H, I,
    H sigma_1, ... are pairwise unbiased: coherence exactly 1/sqrt(N) (m even) or sqrt(2/N)
    (m odd, the least any quadratic sign pattern allows) up to K = (F + 2) N.
  - N even, not a power of two, F = 4: the real form of the chirp-Fourier basis of C^(N/2),
    U[k, j] = exp(i pi (u j(j+1) - 2kj) / (N/2)), u = 1, -1, 3, -3: entry (2k + a, 2j + b) is
    cos(pi (4 (u j(j+1) - 2kj) + N (a - b)) / (2N)), rows normalized.
  - N odd, F = 2: DCT-II * diag(s_a), s_a(j) = (-1)^popcount(j & (j >> a)), a = 1, 2
    (Rudin-Shapiro-like signs).

Chosen by measurement (docs/spread_rows.md has the tables). Coherence = max |cos| between
distinct rows, times sqrt(N); the Welch bound sqrt((K-N)/(N(K-1))) is 0.71 (K = 2N) to 0.87
(K = 4N) on this scale and K iid Gaussian rows reach about sqrt(4 ln K) = 4.4..6.1:

    N                         K = 2N    K = 3N    K = 4N
    64, 256, 1024 (4^j)       1.00      1.00      1.00
    512 (2^odd)               1.00      1.41      1.41
    768, 1000, 3072           1.41      2.46-2.49 2.46-2.49
    odd: 27, 147, 1001        1.41      2.9-3.5   3.0-3.8

The DCT-II times +-1 sign patterns (Legendre, chirp-sign, Rudin-Shapiro) reached 3.0-4.4 for one
extra block and about 4.6 for a pair at N >= 768; hence the chirp bases for even N. For odd N
(no complex structure) the best pair of sign patterns is what is left.

Row selection. A truncated block keeps ``spread_selection(N, count)``: the first ``count`` of
v - 1 for v = g^0, g^1, ... mod p (skipping v > N), p the smallest prime > N, g its smallest
primitive root, in ascending order. The evenly spaced rows (i*N)//K pick a subgroup of Walsh
characters, or a comb of DCT frequencies, and then columns coincide: for K = N/2 or N/4 inputs j
and j^1 (Hadamard) or j and N-1-j (DCT) get identical weights (column coherence 1.0). The
primitive-root rows give 0.07-0.38, like a random subset.

Pinned arithmetic. Values come only from + - * / sqrt, integer operations and table look-ups:
every cosine is ``cos_pi_fraction`` (integer octant reduction and fdlibm's kernels), every
trigonometric row is divided by sqrt(tree_sum(row * row)). Hadamard (+-1.0/math.sqrt(N)) and
identity rows are exact as built: N * fl(1/sqrt(N))^2 = 1 within 2^-52. Sign changes are exact.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from .errors import InitError
from .normal import decimal_pi, pinned_context
from .pinned import tree_sum

__all__ = ["MAX_DIM", "MAX_ELEMENTS", "cos_pi_fraction", "half_pi_over", "spread_selection", "spread_unit_rows"]

MAX_DIM = 65536
MAX_ELEMENTS = 1 << 28
_CHUNK_ELEMENTS = 1 << 20  # rows are built in pieces of about this many values

# fdlibm k_cos.c / k_sin.c (Sun Microsystems, 1993): each literal's bits are the documented
# high and low words; tests/core/test_spread.py checks them against the decimal values too.
_COS = tuple(
    float.fromhex(h)
    for h in (
        "0x1.555555555554cp-5",  # C1  4.16666666666666019037e-02  0x3FA55555 5555554C
        "-0x1.6c16c16c15177p-10",  # C2 -1.38888888888741095749e-03  0xBF56C16C 16C15177
        "0x1.a01a019cb1590p-16",  # C3  2.48015872894767294178e-05  0x3EFA01A0 19CB1590
        "-0x1.27e4f809c52adp-22",  # C4 -2.75573143513906633035e-07  0xBE927E4F 809C52AD
        "0x1.1ee9ebdb4b1c4p-29",  # C5  2.08757232129817482790e-09  0x3E21EE9E BDB4B1C4
        "-0x1.8fae9be8838d4p-37",  # C6 -1.13596475577881948265e-11  0xBDA8FAE9 BE8838D4
    )
)
_SIN = tuple(
    float.fromhex(h)
    for h in (
        "-0x1.5555555555549p-3",  # S1 -1.66666666666666324348e-01  0xBFC55555 55555549
        "0x1.111111110f8a6p-7",  # S2  8.33333333332248946124e-03  0x3F811111 1110F8A6
        "-0x1.a01a019c161d5p-13",  # S3 -1.98412698298579493134e-04  0xBF2A01A0 19C161D5
        "0x1.71de357b1fe7dp-19",  # S4  2.75573137070700676789e-06  0x3EC71DE3 57B1FE7D
        "-0x1.ae5e68a2b9cebp-26",  # S5 -2.50507602534068634195e-08  0xBE5AE5E6 8A2B9CEB
        "0x1.5d93a5acfd57cp-33",  # S6  1.58969099521155010221e-10  0x3DE5D93A 5ACFD57C
    )
)
_HI_0_3 = 0x3FD33333  # high word of 0.3: below it cos needs no qx split
_HI_0_78125 = 0x3FE90000  # high word of 0.78125: above it qx = 0.28125
_HI_MASK = np.uint64(0xFFFFFFFF00000000)
_QUARTER = np.uint64(0x0020000000000000)  # 2 in the exponent field: bits - _QUARTER = x / 4

# Chirp rates u of the extra bases for even N: +-1 keep K <= 4N at coherence 2.5/sqrt(N); +-3
# (3.5/sqrt(N) against the rest) come next, before the Legendre modulation.
_CHIRP_RATES = (1, -1, 3, -3)

# Irreducible (primitive) polynomials over GF(2) of degree h = 1..8, bit i = coefficient of x^i.
_GF_POLY = {1: 0b11, 2: 0b111, 3: 0b1011, 4: 0b10011, 5: 0b100101, 6: 0b1000011, 7: 0b10000011, 8: 0b100011101}


# --- the entry point ---------------------------------------------------------------------------


def spread_unit_rows(units: int, dim: int) -> NDArray[np.float64]:
    """(units x dim) float64 array of unit rows spread on the sphere S^(dim-1); no randomness.

    Rows are the stacked bases [B_0; B_1; ...] of the module docstring, read in order: full
    blocks keep their natural row order, the last (or only) block keeps the rows
    spread_selection(dim, units mod dim), ascending. units <= dim gives orthonormal rows.
    Raises InitError (a ValueError) for dim > 65536 or units * dim > 2^28.
    """
    n, k = int(dim), int(units)
    if n < 1 or k < 0:
        raise InitError(f"spread_rows needs dim >= 1 and units >= 0, got {k} x {n}", param="shape")
    if n > MAX_DIM:
        raise InitError(
            f"spread_rows supports dimensions up to {MAX_DIM}, got {n}", param="shape", allowed=f"dim <= {MAX_DIM}"
        )
    if k * n > MAX_ELEMENTS:
        raise InitError(
            f"spread_rows makes at most 2^28 values, got {k} x {n} = {k * n}",
            param="shape",
            allowed="units * dim <= 2^28",
        )
    out = np.empty((k, n))
    full, partial = divmod(k, n)
    everything = np.arange(n)
    for t in range(min(full, 2)):
        _write_rows(out[t * n : (t + 1) * n], n, t, everything)
    if full > 2:
        _fill_extra_blocks(out[2 * n : full * n], n, full - 2)
    if partial:
        _write_rows(out[full * n :], n, full, spread_selection(n, partial))
    return out


# --- blocks -------------------------------------------------------------------------------------


def _block_rows(n: int, t: int, rows: NDArray[np.int64]) -> NDArray[np.float64]:
    """Rows ``rows`` of block B_t."""
    if t == 0:
        return _hadamard_rows(n, rows) if _is_power_of_two(n) else _dct_rows(n, rows)
    if t == 1:
        identity: NDArray[np.bool_] = rows[:, None] == np.arange(n)[None, :]
        return identity.astype(np.float64)
    member, q = _extra_index(n, t - 2)
    return _family_rows(n, member, rows) * _legendre_signs(n, q)


def _family_size(n: int) -> int:
    """F: how many extra bases there are before the Legendre modulation starts."""
    if _is_power_of_two(n):
        m = n.bit_length() - 1
        return (1 << ((m + 1) // 2)) - 1 if m >= 2 else 1  # N = 1, 2: no bent function; reuse B_0
    return len(_CHIRP_RATES) if n % 2 == 0 else 2


def _extra_index(n: int, g: int) -> tuple[int, int]:
    """(family member, Legendre shift q) of extra block g = t - 2; q cycles through 1..p after 0."""
    f = _family_size(n)
    member, q = g % f, g // f
    if q > 0:
        q = 1 + (q - 1) % _prime_above(n)
    return member, q


def _family_rows(n: int, member: int, rows: NDArray[np.int64]) -> NDArray[np.float64]:
    """Rows of the extra basis number ``member`` (0-based), before the Legendre modulation."""
    if _is_power_of_two(n):
        if n <= 2:
            return _hadamard_rows(n, rows)
        return _hadamard_rows(n, rows) * _bent_signs(n, member + 1)
    if n % 2 == 0:
        return _realified_chirp_rows(n, _CHIRP_RATES[member], rows)
    return _dct_rows(n, rows) * _rudin_shapiro_signs(n, member + 1)


def _fill_extra_blocks(out: NDArray[np.float64], n: int, count: int) -> None:
    """Write the full blocks B_2 .. B_(count+1) into ``out`` ((count*n) x n).

    Extra block g (= t - 2) is family member g mod F times lambda_q; the first F blocks are the
    members themselves (q = 0), later ones reuse them. After those F, blocks repeat with period
    F*p (the Legendre shifts cycle), so only the distinct ones are computed and the rest copied,
    doubling the copied span each pass.
    """
    f, p = _family_size(n), _prime_above(n)
    distinct = min(count, f + f * p)
    for g in range(distinct):
        member, q = _extra_index(n, g)
        block = out[g * n : (g + 1) * n]
        if q == 0:
            _write_rows(block, n, g + 2, np.arange(n))
        else:
            np.multiply(out[member * n : (member + 1) * n], _legendre_signs(n, q), out=block)
    done = distinct
    while done < count:  # out block g = out block g - F*p; (done - f) is a multiple of F*p
        span = min(done - f, count - done)
        out[done * n : (done + span) * n] = out[f * n : (f + span) * n]
        done += span


def _write_rows(out: NDArray[np.float64], n: int, t: int, rows: NDArray[np.int64]) -> None:
    """out[i] = row rows[i] of B_t, a few thousand rows at a time so temporaries stay in cache."""
    step = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, len(rows), step):
        out[start : start + step] = _block_rows(n, t, rows[start : start + step])


# --- the bases ----------------------------------------------------------------------------------


def _is_power_of_two(n: int) -> bool:
    return n & (n - 1) == 0


def _hadamard_rows(n: int, rows: NDArray[np.int64]) -> NDArray[np.float64]:
    """Sylvester-Hadamard rows: (-1)^popcount(i & j) * fl(1/sqrt(n)); exact, no renormalization."""
    signs: NDArray[np.float64] = _hadamard_signs(n)[rows[:, None] & np.arange(n)[None, :]]
    return signs


@lru_cache(maxsize=8)
def _hadamard_signs(n: int) -> NDArray[np.float64]:
    """(-1)^popcount(v) * fl(1/sqrt(n)) for v < n (i & j < n when n is a power of two)."""
    scale = 1.0 / math.sqrt(n)  # math.sqrt and / are correctly rounded
    table = np.where(np.bitwise_count(np.arange(n)) & 1 == 1, -scale, scale)
    table.flags.writeable = False
    return table


def _dct_rows(n: int, rows: NDArray[np.int64]) -> NDArray[np.float64]:
    """Orthonormal DCT-II rows: cos(pi k (2j+1) / (2n)) over j, divided by the row's pinned norm."""
    phase = (rows[:, None] * (2 * np.arange(n)[None, :] + 1)) % (4 * n)
    return _normalized(_cos_table(n)[phase])


def _realified_chirp_rows(n: int, u: int, rows: NDArray[np.int64]) -> NDArray[np.float64]:
    """Rows of the real form of the chirp-Fourier basis of C^(n/2) (n even), normalized.

    Complex entry exp(i phi), phi = pi (u j(j+1) - 2kj) / (n/2) = pi * 4X / (2n); the real
    entry at (2k + a, 2j + b) is cos(phi - (b - a) pi/2): Re/Im of the row (a = 0) and of i times
    it (a = 1), so one cosine table serves all four.
    """
    k, a = (rows // 2)[:, None], (rows % 2)[:, None]
    cols = np.arange(n)
    j, b = (cols // 2)[None, :], (cols % 2)[None, :]
    x = (u * (j * (j + 1) % n) - 2 * (k * j % n)) % n  # phi = pi * 4x / (2n); keep it exact mod n
    phase = (4 * x + n * (a - b)) % (4 * n)
    return _normalized(_cos_table(n)[phase])


def _normalized(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each row divided by sqrt(tree_sum(row * row)): the pinned Euclidean norm."""
    norms = np.sqrt(tree_sum(values * values, axis=1))
    return values / norms[:, None]


# --- sign patterns (exact +-1.0) ----------------------------------------------------------------


def _bent_signs(n: int, a: int) -> NDArray[np.float64]:
    """sigma_a(x) = (-1)^popcount(lo(x) & gfmul(a, hi(x))) for x < n = 2^m, 1 <= a < 2^h.

    lo = the low h = ceil(m/2) bits, hi = the high m - h bits read as an element of GF(2^h).
    x -> gfmul(a, hi) is injective for a != 0, which makes sigma_a bent (m even) or semi-bent
    (m odd), and sigma_a * sigma_b = sigma_(a xor b), so all pairs stay (semi-)bent.
    """
    m = n.bit_length() - 1
    h = (m + 1) // 2
    x = np.arange(n)
    lo, hi = x & ((1 << h) - 1), x >> h
    product = np.zeros_like(x)
    power = hi  # hi * X^i mod poly
    for i in range(h):
        if a >> i & 1:
            product ^= power
        power = (power << 1) ^ np.where(power >> (h - 1) & 1 == 1, _GF_POLY[h], 0)
    return np.where(np.bitwise_count(lo & product) & 1 == 1, -1.0, 1.0)


def _rudin_shapiro_signs(n: int, a: int) -> NDArray[np.float64]:
    """Rudin-Shapiro-like signs (-1)^popcount(j & (j >> a)); a = 1 is the Rudin-Shapiro sequence."""
    j = np.arange(n)
    return np.where(np.bitwise_count(j & (j >> a)) & 1 == 1, -1.0, 1.0)


def _legendre_signs(n: int, q: int) -> NDArray[np.float64] | float:
    """lambda_q(j) = chi_p(j + q), the Legendre symbol mod p (chi_p(0) = +1); lambda_0 = 1."""
    if q == 0:
        return 1.0
    p = _prime_above(n)
    return _legendre_table(p)[(np.arange(n) + q) % p]


@lru_cache(maxsize=16)
def _legendre_table(p: int) -> NDArray[np.float64]:
    table = -np.ones(p)
    table[(np.arange(p, dtype=np.int64) ** 2) % p] = 1.0  # the squares, 0 included
    table.flags.writeable = False
    return table


# --- row selection -------------------------------------------------------------------------------


def spread_selection(n: int, count: int) -> NDArray[np.int64]:
    """The ``count`` rows a truncated block keeps, ascending (see the module docstring)."""
    return np.sort(_primitive_root_order(n)[:count])


@lru_cache(maxsize=64)
def _primitive_root_order(n: int) -> NDArray[np.int64]:
    """Row indices v - 1 for v = g^e mod p, e = 0, 1, ..., p - 2, keeping v <= n."""
    p = _prime_above(n)
    g = _smallest_primitive_root(p)
    order, v = [], 1
    for _ in range(p - 1):
        if v <= n:
            order.append(v - 1)
        v = v * g % p
    result = np.array(order, dtype=np.int64)
    result.flags.writeable = False
    return result


@lru_cache(maxsize=64)
def _prime_above(n: int) -> int:
    """The smallest prime p > n."""
    p = n + 1
    while p < 2 or any(p % d == 0 for d in range(2, math.isqrt(p) + 1)):
        p += 1
    return p


def _smallest_primitive_root(p: int) -> int:
    if p == 2:
        return 1
    factors = {d for d in range(2, p) if (p - 1) % d == 0 and all(d % e for e in range(2, math.isqrt(d) + 1))}
    return next(g for g in range(2, p) if all(pow(g, (p - 1) // q, p) != 1 for q in factors))


# --- pinned cosine --------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _cos_table(n: int) -> NDArray[np.float64]:
    """cos(pi m / (2n)) for m = 0 .. 4n - 1: every angle the bases need is one of these."""
    table = cos_pi_fraction(np.arange(4 * n), n)
    table.flags.writeable = False
    return table


@lru_cache(maxsize=64)
def half_pi_over(n: int) -> float:
    """c = pi / (2n) correctly rounded to float64 (decimal pi to 60 digits, then one rounding)."""
    return float(pinned_context(60).divide(decimal_pi(60), 2 * n))


def cos_pi_fraction(m: np.ndarray, n: int) -> NDArray[np.float64]:
    """cos(pi * m / (2n)) for integer m and n >= 1, pinned.

    Reduction, all in integers: m = m mod 4n; q = floor((2m + n) / (2n)) (the nearest quarter
    turn); r = m - q n, so |r| <= n/2 and the angle is q pi/2 + r c with c = pi/(2n). With
    x = |r| * c (one rounding, 0 <= x <= pi/4): cos = [C, -S, -C, S][q mod 4], C = kcos(x),
    S = sign(r) ksin(x), kcos/ksin the fdlibm kernels with tail y = 0.
    """
    m = np.asarray(m, dtype=np.int64) % (4 * n)
    q = (2 * m + n) // (2 * n)
    r = m - q * n
    x = np.abs(r).astype(np.float64) * half_pi_over(n)
    c, s = _kernel_cos(x), _kernel_sin(x)
    s = np.where(r < 0, -s, s)
    quadrant = q % 4
    return np.select([quadrant == 0, quadrant == 1, quadrant == 2], [c, -s, -c], s)


def _kernel_cos(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """fdlibm __kernel_cos(x, 0) for 0 <= x <= pi/4 (its x < 2^-27 shortcut gives the same 1.0).

    z = x*x; r = z*(C1 + z*(C2 + z*(C3 + z*(C4 + z*(C5 + z*C6))))).
    |x| < 0.3: cos = 1 - (0.5*z - z*r). Else qx = 0.28125 if x > 0.78125, otherwise x/4 with
    the low 32 bits of its representation cleared; cos = (1 - qx) - ((0.5*z - qx) - z*r).
    """
    z = x * x
    r = _COS[4] + z * _COS[5]
    for coefficient in _COS[3::-1]:
        r = coefficient + z * r
    r = z * r
    bits = x.view(np.uint64)
    high = (bits >> np.uint64(32)).astype(np.int64)
    qx = ((bits & _HI_MASK) - _QUARTER).view(np.float64)
    qx = np.where(high > _HI_0_78125, 0.28125, qx)
    qx = np.where(high < _HI_0_3, 0.0, qx)  # with qx = 0 the formula is the small-x one exactly
    return (1.0 - qx) - ((0.5 * z - qx) - z * r)


def _kernel_sin(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """fdlibm __kernel_sin(x, 0, 0): z = x*x; v = z*x; r = S2 + z*(S3 + z*(S4 + z*(S5 + z*S6)));
    sin = x + v*(S1 + z*r)."""
    z = x * x
    v = z * x
    r = _SIN[4] + z * _SIN[5]
    for coefficient in _SIN[3:0:-1]:
        r = coefficient + z * r
    return x + v * (_SIN[0] + z * r)
