"""Pinned Householder QR: orthonormal, unique (diag R > 0), Haar for Gaussian input, and the same
bytes however its column updates are split between threads."""

import numpy as np
import pytest

from service.core import householder, parallel
from service.core.householder import haar_columns

EPS = np.finfo(np.float64).eps


def gaussian(m, n, seed):
    return np.random.default_rng(seed).standard_normal((m, n))


@pytest.mark.parametrize(("m", "n"), [(1, 1), (5, 3), (40, 40), (64, 17), (300, 120)])
def test_columns_are_orthonormal_and_reproduce_the_input(m, n):
    z = gaussian(m, n, m * 1000 + n)
    q = haar_columns(z)
    assert q.shape == (m, n)
    # Householder QR is backward stable: errors of order m n eps (Golub & Van Loan 5.2.1), times a
    # small constant; the check's own product adds m eps. Generous against any BLAS's summation order.
    bound = 20 * m * n * EPS
    assert np.abs(q.T @ q - np.eye(n)).max() <= bound
    r = q.T @ z
    assert np.abs(np.tril(r, -1)).max() <= bound * np.abs(z).max() * np.sqrt(m)  # R is upper triangular
    assert np.all(np.diag(r) > 0)  # the sign normalization makes the factorization unique
    assert np.abs(q @ r - z).max() <= bound * np.abs(z).max() * np.sqrt(m)


def test_it_is_lapacks_q_up_to_rounding_after_the_same_sign_normalization():
    z = gaussian(50, 30, 1)
    q_ref, r_ref = np.linalg.qr(z)
    q_ref *= np.sign(np.diag(r_ref))[None, :]
    # Both are backward stable; the condition number of z bounds how far two such Qs can differ.
    bound = 100 * 50 * 30 * EPS * np.linalg.cond(z)
    assert np.abs(haar_columns(z) - q_ref).max() <= bound


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_the_bytes_do_not_depend_on_how_columns_are_split_between_threads(monkeypatch, threads):
    z = gaussian(400, 300, 7)  # large enough that the column updates are split
    assert z.size >= householder._PARALLEL_MIN
    expected = haar_columns(z).tobytes()
    monkeypatch.setattr(parallel, "THREADS", threads)
    assert haar_columns(z).tobytes() == expected


def test_a_wide_matrix_is_refused():
    with pytest.raises(ValueError, match="tall"):
        haar_columns(np.ones((2, 3)))


def test_a_zero_column_keeps_a_unit_column_instead_of_dividing_by_zero():
    z = gaussian(6, 3, 2)
    z[:, 1] = 0.0
    q = haar_columns(z)
    assert np.all(np.isfinite(q))
    assert np.allclose(np.linalg.norm(q, axis=0), 1.0, rtol=0, atol=50 * EPS)
