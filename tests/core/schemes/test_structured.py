"""service/core/schemes/structured.py: eye, dirac, delta_orthogonal and hadamard_identity."""

import random

import numpy as np
import pytest
from scipy import stats

from service.core.generate import tensor

from .support import Refusal, assert_refused, ks_pvalue, spec


def test_eye_is_exact():
    for shape in [(5, 5), (3, 7), (7, 3)]:
        np.testing.assert_array_equal(tensor(spec("eye", shape, {}, "float64"), 0), np.eye(*shape))
    np.testing.assert_array_equal(tensor(spec("eye", (4, 4), {"gain": 0.5}, "float64"), 0), 0.5 * np.eye(4))


def dirac_reference(shape, groups):
    """PyTorch's dirac_ loop, verbatim in structure."""
    w = np.zeros(shape)
    per_group = shape[0] // groups
    width = min(per_group, shape[1])
    for g in range(groups):
        for d in range(width):
            w[(g * per_group + d, d, *(k // 2 for k in shape[2:]))] = 1
    return w


@pytest.mark.parametrize("dims", [3, 4, 5])
@pytest.mark.parametrize("groups", [1, 2, 3])
def test_dirac_is_exactly_pytorchs(dims, groups):
    rng = random.Random(dims * 10 + groups)
    a, c, d, e = (rng.randint(1, 5) for _ in range(4))
    b = rng.randint(1, 5 * groups)
    shape = (a * groups, b, c, d, e)[:dims]
    w = tensor(spec("dirac", shape, {"groups": groups}, "float64"), 0)
    np.testing.assert_array_equal(w, dirac_reference(shape, groups))
    assert w.sum() == np.count_nonzero(w) == min(a, b) * groups


def test_dirac_keras_layout_holds_the_same_entries_transposed():
    torch_w = tensor(spec("dirac", (6, 4, 3, 5), {"groups": 2}, "float64"), 0)
    keras_w = tensor(spec("dirac", (3, 5, 4, 6), {"groups": 2}, "float64", "keras"), 0)
    np.testing.assert_array_equal(keras_w, torch_w.transpose(2, 3, 1, 0))


def test_dirac_convolution_is_the_identity():
    w = tensor(spec("dirac", (3, 3, 3, 3), {}, "float64"), 0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 8, 8))
    out = np.zeros((3, 6, 6))
    for o in range(3):
        for i in range(3):
            for di in range(3):
                for dj in range(3):
                    out[o] += w[o, i, di, dj] * x[i, di : di + 6, dj : dj + 6]
    np.testing.assert_array_equal(out, x[:, 1:-1, 1:-1])


@pytest.mark.slow  # importing torch takes seconds
def test_structured_schemes_match_torch_when_installed():
    torch = pytest.importorskip("torch")
    for shape, groups in [((6, 4, 3, 3), 2), ((4, 4, 5), 1), ((2, 3, 3, 3, 3), 1)]:
        expected = torch.nn.init.dirac_(torch.empty(shape), groups=groups).numpy()
        np.testing.assert_array_equal(tensor(spec("dirac", shape, {"groups": groups}, "float32"), 0), expected)
    np.testing.assert_array_equal(tensor(spec("eye", (3, 5)), 0), torch.nn.init.eye_(torch.empty(3, 5)).numpy())


@pytest.mark.parametrize("layout", ["torch", "jax"])
def test_delta_orthogonal_centre_is_orthogonal_and_the_rest_zero(layout):
    shape = (8, 4, 4, 3) if layout == "torch" else (4, 3, 4, 8)
    w = tensor(spec("delta_orthogonal", shape, {"gain": 2.0}, "float64", layout), 0)
    centre = w[:, :, 1, 1] if layout == "torch" else w[1, 1].T  # (k - 1) // 2 = 1 for k in (4, 3)
    np.testing.assert_allclose(centre.T @ centre, 4.0 * np.eye(4), atol=1e-12)
    rest = w.copy()
    if layout == "torch":
        rest[:, :, 1, 1] = 0
    else:
        rest[1, 1] = 0
    assert not rest.any()
    other = tensor(spec("delta_orthogonal", (4, 3, 4, 8), {"gain": 2.0}, "float64", "jax"), 0)
    np.testing.assert_array_equal(other[1, 1].T, w[:, :, 1, 1]) if layout == "torch" else None


def test_delta_orthogonal_centre_columns_are_uniform_on_the_sphere():
    w = tensor(spec("delta_orthogonal", (800, 40, 3, 3), {}, "float64"), 0)
    column = w[:, 0, 1, 1]  # one column of the centre map: uniform on S^799
    assert ks_pvalue((column + 1) / 2, stats.beta(399.5, 399.5).cdf) > 1e-4


def _sylvester(n):
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h


@pytest.mark.parametrize("layout", ["torch", "jax"])
def test_hadamard_identity_is_identity_narrowing_and_scaled_hadamard_widening(layout):
    def weight(out_ch, in_ch, k=(), gain=1.0):
        shape = (out_ch, in_ch, *k) if layout == "torch" else (*k, in_ch, out_ch)
        w = tensor(spec("hadamard_identity", shape, {"gain": gain}, "float64", layout), seed=0)
        centre = tuple(n // 2 for n in k)
        matrix = w[(slice(None), slice(None), *centre)] if layout == "torch" else w[centre].T
        rest = w.copy()
        if layout == "torch":
            rest[(slice(None), slice(None), *centre)] = 0
        else:
            rest[centre] = 0
        assert not rest.any()
        return matrix

    np.testing.assert_array_equal(weight(8, 16, (3, 3)), np.eye(8, 16))
    wide = weight(16, 8)
    np.testing.assert_allclose(wide.T @ wide, np.eye(8), atol=1e-15)  # out = p: orthonormal columns
    ragged = weight(12, 5, (3,), gain=2.0)
    assert set(np.unique(np.abs(ragged))) == {0.5}  # 2 / sqrt(16)
    assert np.all(ragged[:, 0] == 0.5) and np.all(ragged[:4, 1:] == 0.5 * _sylvester(16)[:4, 1:5])
    # No randomness: every seed and name gives the same bytes.
    a = tensor(spec("hadamard_identity", (12, 5), {}, "float32"), seed=0)
    np.testing.assert_array_equal(a, tensor(spec("hadamard_identity", (12, 5), {}, "float32", name="x"), seed=9))


REFUSALS: list[Refusal] = [
    ("dirac", (6, 3, 3), {"groups": 4}, "torch", "scheme.groups", "divisible by groups"),
    ("delta_orthogonal", (4, 8, 3, 3), {}, "torch", "shape", "in <= out"),
]


@pytest.mark.parametrize(("scheme", "shape", "params", "layout", "field", "fragment"), REFUSALS)
def test_shapes_the_structure_cannot_fill_are_refused_naming_the_field(scheme, shape, params, layout, field, fragment):
    assert_refused(scheme, shape, params, layout, field, fragment)
