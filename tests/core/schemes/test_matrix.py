"""service/core/schemes/matrix.py: orthogonal, sphere_rows, sparse and spread_rows, and their helpers."""

import math
import random

import numpy as np
import pytest
from scipy import stats

from service.core.distributions import Normal
from service.core.errors import InitError
from service.core.generate import float64_values, tensor
from service.core.registry import Context, Elementwise
from service.core.schemes.matrix import (
    PARALLEL_CHUNK,
    smallest_per_column,
    standard_normals,
    units_matrix,
    units_shape,
)

from .support import draw, ks_pvalue, spec


def test_sparse_zeroes_each_column_like_pytorch():
    rng = random.Random(5)
    for trial in range(3):
        rows, cols = rng.randint(30, 35), rng.randint(30, 35)
        sparsity, std = rng.uniform(0.1, 0.2), rng.uniform(0.01, 0.2)
        values = draw("sparse", (rows, cols), {"sparsity": sparsity, "std": std}, trial)
        zeros = math.ceil(sparsity * rows)
        assert (np.count_nonzero(values == 0, axis=0) >= zeros).all()
        assert ks_pvalue(values[values != 0], stats.norm(0, std).cdf) > 1e-4


def test_sparse_in_keras_layout_zeroes_each_input_row():
    values = tensor(spec("sparse", (30, 40), {"sparsity": 0.5}, layout="keras"), 0)
    assert (np.count_nonzero(values == 0, axis=1) == 20).all()


def test_sparse_selection_breaks_ties_like_a_stable_sort():
    rng = np.random.default_rng(0)
    for _ in range(20):
        keys = rng.integers(0, 4, size=(23, 9)).astype(np.uint64)  # ties everywhere
        for count in (0, 1, 7, 23):
            expected = np.sort(np.argsort(keys, axis=0, kind="stable")[:count], axis=0)
            np.testing.assert_array_equal(np.sort(smallest_per_column(keys, count), axis=0), expected)


@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (20, 2, 3, 4), (2, 3, 4, 5), (64, 64)])
@pytest.mark.parametrize("layout", ["torch", "keras"])
@pytest.mark.parametrize("gain", [1.0, 1.7])
def test_orthogonal_has_orthonormal_rows_or_columns(shape, layout, gain):
    w = tensor(spec("orthogonal", shape, {"gain": gain}, "float64", layout), 0)
    m = w.reshape(shape[0], -1) if layout == "torch" else w.reshape(-1, shape[-1])
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, gain * gain * np.eye(gram.shape[0]), atol=1e-12)
    w32 = tensor(spec("orthogonal", shape, {"gain": gain}, "float32", layout), 0).astype(np.float64)
    m32 = w32.reshape(m.shape)
    gram32 = m32 @ m32.T if m.shape[0] <= m.shape[1] else m32.T @ m32
    np.testing.assert_allclose(gram32, gain * gain * np.eye(gram.shape[0]), atol=1e-6 * gain * gain)


def test_orthogonal_is_the_sign_fixed_qr_of_the_gaussian_words():
    # Haar by construction: Q of Z = QR with diag(R) > 0, Z the scheme's own N(0, 1) draws.
    z = float64_values(spec("normal", (300, 100)), seed=9).reshape(300, 100)
    q, r = np.linalg.qr(z)
    q *= np.sign(np.diag(r))
    w = tensor(spec("orthogonal", (300, 100), {}, "float64"), seed=9)
    # LAPACK's QR rounds as its BLAS kernels do. Both QRs are backward stable (within m n U of Z),
    # and Q moves by at most the condition number of Z times that (first-order perturbation of QR).
    bound = 300 * 100 * (np.finfo(np.float64).eps / 2) * np.linalg.cond(z)
    np.testing.assert_allclose(w, q, rtol=0, atol=bound)


def test_orthogonal_columns_are_uniform_on_the_sphere():
    w = tensor(spec("orthogonal", (1000, 50), {}, "float64"), 0)
    d = 1000  # each column is uniform on S^999: (x + 1) / 2 ~ Beta(499.5, 499.5)
    assert ks_pvalue((w[:, 0] + 1) / 2, stats.beta((d - 1) / 2, (d - 1) / 2).cdf) > 1e-4


def test_orthogonal_refuses_sizes_beyond_the_pinned_limit():
    with pytest.raises(InitError, match="2048 x 2048") as error:
        _ = spec("orthogonal", (4096, 4096)).plan
    assert error.value.param == "shape"


@pytest.mark.parametrize("layout", ["torch", "keras"])
def test_sphere_rows_have_the_requested_norm_and_uniform_directions(layout):
    shape = (500, 64) if layout == "torch" else (64, 500)
    w = tensor(spec("sphere_rows", shape, {"radius": 2.0}, "float64", layout), 0)
    units = w if layout == "torch" else w.T
    np.testing.assert_allclose(np.linalg.norm(units, axis=1), 2.0, rtol=1e-14)
    assert ks_pvalue((units[:, 0] / 2 + 1) / 2, stats.beta(31.5, 31.5).cdf) > 1e-4


def test_spread_rows_are_deterministic_unit_rows_independent_of_the_seed():
    a = tensor(spec("spread_rows", (48, 32), {}, "float64"), 0)
    b = tensor(spec("spread_rows", (48, 32), {}, "float64", name="other"), 12345)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-14)
    square = tensor(spec("spread_rows", (32, 32), {"gain": 3.0}, "float64"), 0)
    np.testing.assert_allclose(square @ square.T, 9.0 * np.eye(32), atol=1e-12)


def test_standard_normals_are_the_normal_schemes_values_across_parallel_chunks():
    count = 2 * PARALLEL_CHUNK + 5
    key = 0x0123456789ABCDEF0123456789ABCDEF
    np.testing.assert_array_equal(standard_normals(key, count), Elementwise(Normal(0.0, 1.0)).values(key, 0, count))


@pytest.mark.parametrize(
    ("shape", "layout", "units"),
    [((6, 4), "torch", (6, 4)), ((6, 4, 3), "torch", (6, 12)), ((4, 6), "keras", (6, 4)), ((3, 4, 6), "jax", (6, 12))],
)
def test_units_are_output_neurons_in_either_layout(shape, layout, units):
    ctx = Context(shape, layout)
    assert units_shape(ctx) == units
    values = np.arange(math.prod(shape), dtype=np.float64)
    matrix = units_matrix(values, ctx)
    assert matrix.shape == units
    tensor_ = values.reshape(shape)
    # unit 1's vector: its output channel's entries, wherever the layout puts that axis
    expected = tensor_[1].reshape(-1) if layout == "torch" else tensor_[..., 1].reshape(-1)
    np.testing.assert_array_equal(matrix[1], expected)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_orthogonal_column_axis_is_jaxs_matrix_with_its_columns_along_that_axis(axis):
    from service.core.diagnose import diagnose
    from service.core.generate import TensorSpec

    shape = (6, 10, 12)
    spec = TensorSpec("w", shape, "orthogonal", {"gain": 1.5, "column_axis": axis}, "float64", "jax")
    w = tensor(spec, 5)
    cols = shape[axis]
    m = np.moveaxis(w, axis, -1).reshape(-1, cols)
    gram = m.T @ m if m.shape[0] >= cols else m @ m.T
    np.testing.assert_allclose(gram, 2.25 * np.eye(len(gram)), atol=1e-12)
    # The same draws as the jax-layout tensor of the moved shape, moved back: one matrix, two views.
    moved = (*shape[: axis % 3], *shape[axis % 3 + 1 :], cols)
    plain = tensor(TensorSpec("w", moved, "orthogonal", {"gain": 1.5}, "float64", "jax"), 5)
    np.testing.assert_array_equal(w, np.moveaxis(plain, -1, axis))
    report = diagnose(spec, 5)
    assert report["orthogonality_error"] < 1e-12
    assert spec.canonical()["scheme"] == {"name": "orthogonal", "gain": 1.5, "column_axis": axis}
    without = TensorSpec("w", shape, "orthogonal", {"gain": 1.5}, "float64", "jax").canonical()["scheme"]
    assert without == {"name": "orthogonal", "gain": 1.5}  # implicit: absent unless given (v1's bytes)


def test_orthogonal_column_axis_out_of_range_names_the_parameter():
    from service.core.generate import TensorSpec

    with pytest.raises(InitError, match="out of range") as error:
        _ = TensorSpec("w", (4, 5), "orthogonal", {"column_axis": 2}).plan
    assert error.value.param == "scheme.column_axis"
