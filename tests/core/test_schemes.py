"""Every scheme in the registry: shapes and dtypes, its distribution (KS), its structure, its errors.

The statistical tests follow PyTorch's test_init.py: random shapes and parameters from a seeded
Python RNG, a one-sample KS test against the intended distribution, pass iff p > 1e-4. The
expected distributions are computed here from the published formulas, not from the service.
"""

import math
import random

import numpy as np
import pytest
from scipy import stats

from service.core.errors import InitError
from service.core.generate import TensorSpec, float64_values, tensor
from service.core.registry import REGISTRY, all_names, get_scheme

DTYPES = ["float32", "float64", "float16", "bfloat16"]

# One example per scheme: (shape, params). The registry test below demands an entry for each.
EXAMPLES = {
    "zeros": ((8, 6), {}),
    "ones": ((8, 6), {}),
    "constant": ((8, 6), {"value": 0.3}),
    "uniform": ((40, 30), {"a": -0.5, "b": 1.5}),
    "normal": ((40, 30), {"mean": 0.1, "std": 0.02}),
    "truncated_normal": ((40, 30), {"std": 0.5}),
    "xavier_uniform": ((40, 30), {"gain": 2.0}),
    "xavier_normal": ((40, 30), {}),
    "kaiming_uniform": ((40, 30, 3), {"a": math.sqrt(5)}),
    "kaiming_normal": ((40, 30, 3), {"mode": "fan_out", "nonlinearity": "relu"}),
    "lecun_uniform": ((40, 30), {}),
    "lecun_normal": ((40, 30), {}),
    "variance_scaling": ((40, 30), {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}),
    "orthogonal": ((24, 40), {"gain": 1.5}),
    "sphere_rows": ((24, 40), {"radius": 2.0}),
    "sparse": ((40, 30), {"sparsity": 0.25}),
    "spread_rows": ((24, 40), {}),
    "eye": ((5, 7), {}),
    "dirac": ((6, 3, 3, 3), {"groups": 2}),
    "delta_orthogonal": ((8, 4, 3, 3), {}),
    "hadamard_identity": ((24, 12), {}),
}


def spec(scheme, shape, params=None, dtype="float32", layout="torch", name="w"):
    return TensorSpec(name, shape, scheme, params or {}, dtype=dtype, layout=layout)


def test_every_registered_scheme_has_an_example_and_a_documented_formula():
    assert set(EXAMPLES) == set(REGISTRY)
    for scheme in REGISTRY.values():
        assert scheme.summary and "\n" not in scheme.summary
        assert len(scheme.doc.split("\n\n")) >= 2, f"{scheme.name} docstring needs a reference paragraph"
        for alias in scheme.aliases:
            assert get_scheme(alias) is scheme
    assert {"glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "msra"} <= set(all_names())


@pytest.mark.parametrize("layout", ["torch", "keras"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_scheme_fills_every_dtype_and_layout(name, dtype, layout):
    shape, params = EXAMPLES[name]
    if layout == "keras":
        shape = shape[::-1] if len(shape) == 2 else (*shape[2:], shape[1], shape[0])
    out = tensor(spec(name, shape, params, dtype, layout), seed=3)
    assert out.shape == shape
    assert out.dtype == {"float32": np.float32, "float64": np.float64}.get(dtype, np.uint16)
    values = spec(name, shape, params, dtype, layout).out_dtype.to_float64(out.reshape(-1))
    assert np.isfinite(values).all()
    # One rounding from float64: the stored values are exactly the rounded float64 values.
    exact = float64_values(spec(name, shape, params, dtype, layout), seed=3)
    np.testing.assert_array_equal(out.reshape(-1), spec(name, shape, params, dtype, layout).out_dtype.round(exact))


# --- distributions -----------------------------------------------------------------------------

GAINS = {"linear": 1.0, "sigmoid": 1.0, "conv2d": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 0.75}


def torch_fans(shape):
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def random_shape(rng, dims, low, high):
    return tuple(rng.randint(low, high) for _ in range(dims))


def ks_pvalue(values, cdf):
    return stats.kstest(values.astype(np.float64).reshape(-1), cdf).pvalue


def draw(scheme, shape, params, seed):
    return tensor(spec(scheme, shape, params, "float32"), seed)


@pytest.mark.parametrize("dims", [1, 2, 4])
def test_uniform_and_normal_match_their_distributions(dims):
    rng = random.Random(123 + dims)
    for trial in range(3):
        shape = random_shape(rng, dims, 30, 50)
        a = rng.uniform(-3, 3)
        b = a + rng.uniform(1, 5)
        assert ks_pvalue(draw("uniform", shape, {"a": a, "b": b}, trial), stats.uniform(a, b - a).cdf) > 1e-4
        mean, std = rng.uniform(-3, 3), rng.uniform(1, 5)
        assert ks_pvalue(draw("normal", shape, {"mean": mean, "std": std}, trial), stats.norm(mean, std).cdf) > 1e-4


@pytest.mark.parametrize("dims", [2, 4])
@pytest.mark.parametrize("use_gain", [False, True])
def test_xavier_matches_glorot_bengio(dims, use_gain):
    rng = random.Random(7 * dims + use_gain)
    shape = random_shape(rng, dims, 20, 25)
    gain = rng.uniform(0.1, 2) if use_gain else 1.0
    fan_in, fan_out = torch_fans(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    uniform = draw("xavier_uniform", shape, {"gain": gain}, 1)
    assert ks_pvalue(uniform, stats.uniform(-bound, 2 * bound).cdf) > 1e-4
    assert np.abs(uniform).max() <= np.float32(bound)
    assert ks_pvalue(draw("xavier_normal", shape, {"gain": gain}, 2), stats.norm(0, std).cdf) > 1e-4


@pytest.mark.parametrize("dims", [2, 4])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("use_a", [False, True])
def test_kaiming_matches_he_et_al(dims, mode, use_a):
    rng = random.Random(f"kaiming-{dims}-{mode}-{use_a}")  # not hash(): str hashes change per process
    shape = random_shape(rng, dims, 20, 25)
    a = rng.uniform(0.1, 2) if use_a else 0.0
    fan_in, fan_out = torch_fans(shape)
    std = math.sqrt(2.0 / ((1 + a * a) * (fan_in if mode == "fan_in" else fan_out)))
    params = {"a": a, "mode": mode}
    assert (
        ks_pvalue(
            draw("kaiming_uniform", shape, params, 1), stats.uniform(-math.sqrt(3) * std, 2 * math.sqrt(3) * std).cdf
        )
        > 1e-4
    )
    assert ks_pvalue(draw("kaiming_normal", shape, params, 2), stats.norm(0, std).cdf) > 1e-4


@pytest.mark.parametrize("nonlinearity", sorted(GAINS))
def test_kaiming_nonlinearity_sets_the_gain(nonlinearity):
    shape = (300, 200)
    std = GAINS[nonlinearity] / math.sqrt(200)
    values = draw("kaiming_normal", shape, {"nonlinearity": nonlinearity}, 5)
    assert ks_pvalue(values, stats.norm(0, std).cdf) > 1e-4


def test_pytorch_linear_default_is_uniform_one_over_sqrt_fan_in():
    values = draw("kaiming_uniform", (200, 300), {"a": math.sqrt(5)}, 0)
    assert ks_pvalue(values, stats.uniform(-1 / math.sqrt(300), 2 / math.sqrt(300)).cdf) > 1e-4


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "uniform"])
def test_variance_scaling_matches_jax(mode, distribution):
    shape = (120, 80)  # torch layout: fan_in 80, fan_out 120
    fan = {"fan_in": 80, "fan_out": 120, "fan_avg": 100, "fan_geo_avg": math.sqrt(80 * 120)}[mode]
    variance = 2.0 / fan
    expected = {
        "truncated_normal": stats.truncnorm(-2, 2, scale=math.sqrt(variance) / 0.87962566103423978),
        "normal": stats.norm(0, math.sqrt(variance)),
        "uniform": stats.uniform(-math.sqrt(3 * variance), 2 * math.sqrt(3 * variance)),
    }[distribution]
    values = draw("variance_scaling", shape, {"scale": 2.0, "mode": mode, "distribution": distribution}, 4)
    assert ks_pvalue(values, expected.cdf) > 1e-4
    assert abs(values.astype(np.float64).std() / expected.std() - 1) < 0.03


def test_lecun_schemes_are_keras_and_jax_presets():
    values = draw("lecun_normal", (150, 100), {}, 1)
    assert ks_pvalue(values, stats.truncnorm(-2, 2, scale=math.sqrt(1 / 100) / 0.87962566103423978).cdf) > 1e-4
    values = draw("lecun_uniform", (150, 100), {}, 1)
    assert ks_pvalue(values, stats.uniform(-math.sqrt(3 / 100), 2 * math.sqrt(3 / 100)).cdf) > 1e-4


@pytest.mark.parametrize("dtype", DTYPES)
def test_truncated_normal_all_dtypes_stays_in_bounds_like_pytorch(dtype):
    rng = random.Random(11)
    for trial in range(3):
        shape = random_shape(rng, rng.choice([1, 2, 4]), 30, 50)
        mean, std = rng.uniform(-3, 3), rng.uniform(0.01, 1)
        a, b = rng.uniform(mean - 2 * std, mean), rng.uniform(mean, mean + 2 * std)
        s = spec("truncated_normal", shape, {"mean": mean, "std": std, "a": a, "b": b}, dtype)
        values = s.out_dtype.to_float64(tensor(s, trial).reshape(-1))
        assert values.min() >= s.out_dtype.round_scalar(a)
        assert values.max() <= s.out_dtype.round_scalar(b)
        if dtype in ("float32", "float64"):
            expected = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
            assert ks_pvalue(values, expected.cdf) > 1e-4


@pytest.mark.parametrize(("a", "b"), [(4.0, 6.0), (-6.0, -4.0), (2.0, 3.0), (-0.5, 0.5), (8.0, 9.0), (20.0, 25.0)])
def test_truncated_normal_is_exact_in_far_tails(a, b):
    values = tensor(spec("truncated_normal", (200, 100), {"a": a, "b": b, "bounds": "sigma"}, "float64"), 0).reshape(-1)
    assert values.min() >= a and values.max() <= b
    assert np.count_nonzero(values == a) + np.count_nonzero(values == b) == 0  # nothing piled at a bound
    assert ks_pvalue(values, stats.truncnorm(a, b).cdf) > 1e-4


@pytest.mark.parametrize("dtype", DTYPES)
def test_truncated_normal_low_precision_has_many_values_and_none_at_the_bounds(dtype):
    values = tensor(spec("truncated_normal", (10000,), {"std": 0.1}, dtype), 0)
    as_float = spec("truncated_normal", (1,), {}, dtype).out_dtype.to_float64(values)
    assert np.count_nonzero(np.abs(as_float) == 2.0) == 0
    unique = np.unique(as_float).size
    assert unique > {"float32": 5000, "float64": 5000, "float16": 1000, "bfloat16": 200}[dtype]


def test_truncated_normal_variance_correction_gives_the_requested_std():
    params = {"std": 0.3, "a": -2.0, "b": 2.0, "bounds": "sigma", "correct_variance": True}
    values = draw("truncated_normal", (300, 300), params, 0).astype(np.float64)
    assert abs(values.std() / 0.3 - 1) < 0.01
    raw_std = 0.3 / 0.87962566103423978
    assert ks_pvalue(values, stats.truncnorm(-2, 2, scale=raw_std).cdf) > 1e-4


def test_pytorch_small_std_truncation_is_effectively_untruncated():
    values = draw("truncated_normal", (300, 300), {"std": 0.02}, 0)
    assert ks_pvalue(values, stats.norm(0, 0.02).cdf) > 1e-4


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


# --- structure ---------------------------------------------------------------------------------


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


def test_spread_rows_are_deterministic_unit_rows_independent_of_the_seed():
    a = tensor(spec("spread_rows", (48, 32), {}, "float64"), 0)
    b = tensor(spec("spread_rows", (48, 32), {}, "float64", name="other"), 12345)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-14)
    square = tensor(spec("spread_rows", (32, 32), {"gain": 3.0}, "float64"), 0)
    np.testing.assert_allclose(square @ square.T, 9.0 * np.eye(32), atol=1e-12)


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


# --- errors ------------------------------------------------------------------------------------

ERRORS = [
    # (scheme, shape, params, layout, field, message fragment)
    ("xavier_uniform", (7,), {}, "torch", "shape", "fewer than 2 dimensions"),
    ("kaiming_normal", (), {}, "jax", "shape", "fewer than 2 dimensions"),
    ("eye", (2, 3, 4), {}, "torch", "shape", "2 dimensions"),
    ("eye", (4,), {}, "torch", "shape", "2 dimensions"),
    ("dirac", (4, 4), {}, "torch", "shape", "3 to 5 dimensions"),
    ("dirac", (2, 2, 2, 2, 2, 2), {}, "torch", "shape", "3 to 5 dimensions"),
    ("dirac", (6, 3, 3), {"groups": 4}, "torch", "scheme.groups", "divisible by groups"),
    ("orthogonal", (9,), {}, "torch", "shape", "dimensions"),
    ("sparse", (4, 4, 4), {"sparsity": 0.1}, "torch", "shape", "2 dimensions"),
    ("sparse", (4, 4), {"sparsity": 1.0}, "torch", "scheme.sparsity", "< 1"),
    ("sparse", (4, 4), {"sparsity": -0.1}, "torch", "scheme.sparsity", ">= 0"),
    ("sparse", (4, 4), {}, "torch", "scheme.sparsity", "needs parameter 'sparsity'"),
    ("sparse", (4, 4), {"sparsity": 0.1, "std": 0.0}, "torch", "scheme.std", "> 0"),
    ("normal", (4, 4), {"std": -1.0}, "torch", "scheme.std", "> 0"),
    ("uniform", (4, 4), {"a": 1.0, "b": 1.0}, "torch", "scheme.b", "greater than a"),
    ("uniform", (4, 4), {"a": 2.0, "b": 1.0}, "torch", "scheme.b", "greater than a"),
    ("truncated_normal", (4, 4), {"a": 3.0, "b": -3.0}, "torch", "scheme.b", "greater than a"),
    ("truncated_normal", (4, 4), {"a": 40.0, "b": 41.0, "bounds": "sigma"}, "torch", "scheme.a", "standard deviations"),
    ("truncated_normal", (4, 4), {"correct_variance": True}, "torch", "scheme.correct_variance", "sigma"),
    ("normal", (4, 4), {"mean": float("nan")}, "torch", "scheme.mean", "finite"),
    ("uniform", (4, 4), {"b": float("inf")}, "torch", "scheme.b", "finite"),
    ("constant", (4, 4), {"value": True}, "torch", "scheme.value", "finite number"),
    ("constant", (4, 4), {"value": "1"}, "torch", "scheme.value", "finite number"),
    ("kaiming_uniform", (4, 4), {"nonlinearity": "gelu"}, "torch", "scheme.nonlinearity", "one of"),
    ("kaiming_uniform", (4, 4), {"mode": "fan_max"}, "torch", "scheme.mode", "fan_in, fan_out"),
    ("variance_scaling", (4, 4), {"scale": 0.0}, "torch", "scheme.scale", "> 0"),
    ("variance_scaling", (4, 4), {"distribution": "cauchy"}, "torch", "scheme.distribution", "one of"),
    ("xavier_normal", (4, 4), {"gain": 1.0, "gian": 2.0}, "torch", "scheme.gian", "no parameter 'gian'"),
    ("delta_orthogonal", (4, 8, 3, 3), {}, "torch", "shape", "in <= out"),
    ("normal", (4, 0), {}, "torch", "shape.1", "positive integer"),
    ("normal", (4, -2), {}, "torch", "shape.1", "positive integer"),
    ("normal", (True, 2), {}, "torch", "shape.0", "positive integer"),
    ("normal", (4, 4), {}, "caffe", "layout", "not supported"),
    ("no_such_scheme", (4, 4), {}, "torch", "scheme.name", "unknown scheme"),
]


@pytest.mark.parametrize(("scheme", "shape", "params", "layout", "field", "fragment"), ERRORS)
def test_bad_requests_name_the_field_and_what_is_allowed(scheme, shape, params, layout, field, fragment):
    with pytest.raises(InitError) as error:
        _ = spec(scheme, shape, params, layout=layout).plan
    assert error.value.param == field
    assert fragment in str(error.value) + " " + (error.value.allowed or "")


def test_mode_is_case_insensitive_like_pytorch_and_keras_synonyms_are_accepted():
    assert spec("kaiming_normal", (4, 4), {"mode": "FAN_OUT"}).canonical()["scheme"]["mode"] == "fan_out"
    canonical = spec("variance_scaling", (4, 4), {"distribution": "untruncated_normal"}).canonical()
    assert canonical["scheme"]["distribution"] == "normal"
    assert spec("he_normal", (4, 4)).canonical()["scheme"]["name"] == "kaiming_normal"


def test_sparse_selection_breaks_ties_like_a_stable_sort():
    from service.core.schemes.matrix import smallest_per_column

    rng = np.random.default_rng(0)
    for _ in range(20):
        keys = rng.integers(0, 4, size=(23, 9)).astype(np.uint64)  # ties everywhere
        for count in (0, 1, 7, 23):
            expected = np.sort(np.argsort(keys, axis=0, kind="stable")[:count], axis=0)
            np.testing.assert_array_equal(np.sort(smallest_per_column(keys, count), axis=0), expected)


def test_delta_orthogonal_centre_columns_are_uniform_on_the_sphere():
    w = tensor(spec("delta_orthogonal", (800, 40, 3, 3), {}, "float64"), 0)
    column = w[:, 0, 1, 1]  # one column of the centre map: uniform on S^799
    assert ks_pvalue((column + 1) / 2, stats.beta(399.5, 399.5).cdf) > 1e-4
