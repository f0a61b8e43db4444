"""Haar-distributed orthonormal columns by Householder QR with pinned arithmetic, no LAPACK.

LAPACK and BLAS results depend on the library, its blocking and the CPU kernel, so the QR of
``numpy.linalg`` cannot promise the same bytes everywhere. This is the textbook unblocked
Householder QR (Golub & Van Loan, Algorithm 5.2.1, with backward accumulation of Q), where every
reduction is ``pinned.tree_sum``. Multiplying column j of Q by sign(R[j, j]) makes the
factorization unique and Q Haar-distributed when the input is Gaussian (Mezzadri, 2007,
"How to generate random matrices from the classical compact groups", math-ph/0609050).

Cost is O(m n^2) numpy passes: see MAX_ORTHOGONAL_WORK in the orthogonal scheme. The compiled
kernels (service/core/_linalg.c, used when built: ``kernels.extension("_linalg")``) perform the
same operations in the same order, about ten times faster.
"""

from __future__ import annotations

import numpy as np

from . import kernels, parallel
from .pinned import tree_sum

__all__ = ["haar_columns"]

_PARALLEL_MIN = 1 << 16  # below this, thread hand-off costs more than it saves


def _reflector(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """v, beta, alpha with (I - beta v v^T) x = alpha e1 and alpha = -sign(x0) ||x||."""
    norm = float(np.sqrt(tree_sum(x * x)))
    alpha = -norm if x[0] >= 0.0 else norm
    v = x.copy()
    v[0] = x[0] - alpha
    vv = float(tree_sum(v * v))
    return v, (2.0 / vv if vv > 0.0 else 0.0), alpha


def _apply(v: np.ndarray, beta: float, block: np.ndarray) -> None:
    """block <- block - (beta v) (v^T block), in place; columns are independent, so large blocks
    are split between threads by columns without changing a bit."""
    if beta == 0.0 or block.shape[1] == 0:
        return
    scaled = beta * v

    def update(columns: tuple[int, int]) -> None:
        part = block[:, columns[0] : columns[1]]
        w = tree_sum(v[:, None] * part, axis=0)
        part -= scaled[:, None] * w[None, :]

    cols = block.shape[1]
    if block.size < _PARALLEL_MIN or cols < 2:
        update((0, cols))
    else:
        parallel.each(update, parallel.ranges(0, cols, -(-cols // parallel.THREADS)))


def haar_columns(z: np.ndarray) -> np.ndarray:
    """Q (m x n, m >= n) with orthonormal columns from z = Q R, normalized so diag(R) > 0.

    For k = 0 .. n-1: x = A[k:, k]; alpha = -sign(x0) * sqrt(tree_sum(x*x)); v = x with
    v0 = x0 - alpha; beta = 2 / tree_sum(v*v); A[k:, k+1:] -= (beta v)(v^T A[k:, k+1:]).
    Then Q = [I; 0] and for k = n-1 .. 0: Q[k:, k:] -= (beta_k v_k)(v_k^T Q[k:, k:]).
    Finally Q[:, j] *= sign(alpha_j) (+1 for alpha_j = 0).
    """
    a = np.array(z, dtype=np.float64, order="C", copy=True)
    m, n = a.shape
    if m < n:
        raise ValueError("haar_columns needs a tall matrix (m >= n)")
    compiled = kernels.extension("_linalg")
    if compiled is not None:
        # service/core/_linalg.c: these operations on each column, in this order; the columns in
        # cache-sized blocks, side by side in SIMD lanes, blocks split between threads.
        q_compiled = np.empty((m, n))
        compiled.haar_columns(a, q_compiled, m, n, parallel.THREADS)
        return q_compiled
    reflectors = []
    signs = np.empty(n)
    for k in range(n):
        v, beta, alpha = _reflector(a[k:, k])
        _apply(v, beta, a[k:, k + 1 :])
        reflectors.append((v, beta))
        signs[k] = -1.0 if alpha < 0.0 else 1.0
    q = np.zeros((m, n))
    q[np.arange(n), np.arange(n)] = 1.0
    for k in range(n - 1, -1, -1):
        v, beta = reflectors[k]
        _apply(v, beta, q[k:, k:])
    q *= signs[None, :]
    return q
