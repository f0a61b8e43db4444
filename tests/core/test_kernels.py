"""The compiled kernels against the numpy reference: the same bytes for every value path.

The numpy code is the written reference; service/core/_kernels.c computes the same thing in one
SIMD pass per block. These tests draw thousands of cases, seeded so that every run and machine
draws the same ones: raw words at any position and stream, the pieces (the pinned log, AS241),
every elementwise distribution with ordinary, extreme and signed-zero parameters in every dtype,
and every registered scheme through ``generate`` at random seeds and sub-ranges. The golden
vectors run on both paths too (tests/core/test_golden.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from service.core import kernels, normal, pinned
from service.core.bits import derive_key, philox_words
from service.core.distributions import Normal, TruncatedNormal, Uniform
from service.core.dtypes import get_dtype
from service.core.errors import InitError
from service.core.generate import TensorSpec, generate
from service.core.registry import REGISTRY

COMPILED = kernels.extension("_kernels")
pytestmark = pytest.mark.skipif(COMPILED is None, reason=f"no compiled kernels here: {kernels.describe()}")
DTYPES = list(kernels.DTYPE_CODES)
U64 = (1 << 64) - 1


def reference(fn, *args, **kwargs):
    with kernels.numpy():
        return fn(*args, **kwargs)


def test_the_switch_selects_the_path_and_describes_it(monkeypatch):
    assert kernels.describe()["path"] == "compiled" and kernels.active() is not None
    with kernels.numpy():
        assert kernels.active() is None and kernels.extension("_kernels") is None
        assert kernels.describe() == {"path": "numpy", "reason": f"{kernels.ENVIRONMENT}=numpy"}
    assert kernels.active() is not None  # restored
    monkeypatch.setenv(kernels.ENVIRONMENT, "numpy")
    kernels.use()
    try:
        assert kernels.active() is None
    finally:
        monkeypatch.delenv(kernels.ENVIRONMENT)
        kernels.use()
    assert kernels.active() is not None


@pytest.mark.parametrize("stream", [0, 1, 3])
def test_words_at_any_position_are_numpys_philox(stream):
    rng = np.random.default_rng(stream)
    for _ in range(40):
        key = int(rng.integers(0, 2**63)) << 65 | int(rng.integers(0, 2**63))
        start = int(rng.choice([0, 1, 2, 3, 4, 1000, 2**32 - 1, 2**40 + 3, 2**61]))
        count = int(rng.integers(0, 70))
        assert np.array_equal(
            philox_words(key, start, count, stream), reference(philox_words, key, start, count, stream)
        )


def test_words_beyond_the_compiled_range_fall_back_to_the_reference():
    assert kernels.words(5, 2**62, 4, 0) is None and kernels.words(5, 0, 4, 2**64) is None
    assert np.array_equal(philox_words(5, 2**200, 4), reference(philox_words, 5, 2**200, 4))


def test_the_pinned_log_and_the_quantile_are_the_references_bits():
    rng = np.random.default_rng(1)
    x = np.concatenate([10.0 ** rng.uniform(-307, 308, 50_000), rng.random(20_000), [2.0**-1022, 1.0, 0.5, 2.0]])
    out = np.empty_like(x)
    COMPILED.log(x, out)
    assert np.array_equal(out.view(np.uint64), pinned.log(x).view(np.uint64))
    p = np.concatenate(
        [rng.random(50_000), 10.0 ** rng.uniform(-300, -1, 20_000), 1 - 10.0 ** rng.uniform(-16, -1, 20_000)]
    )
    p = np.concatenate([p, [2.0**-1022, 0.075, 0.925, 0.5 - 0.425, 0.5 + 0.425, 1e-11, 1 - 2**-53]])
    out = np.empty_like(p)
    COMPILED.ndtri(p, out)
    assert np.array_equal(out.view(np.uint64), normal.ndtri(p).view(np.uint64))


def distributions():
    """Ordinary and extreme parameters, bounds at signed zeros, far tails, tiny and huge widths."""
    return [
        Uniform(-1.0, 1.0), Uniform(0.0, 1e-300), Uniform(-3e300, 3e300), Uniform(2.5, 2.5000001),
        Uniform(-0.0, 1.0), Uniform(-1.0, -0.0), Uniform(-1e-310, 1e-310),
        Normal(0.0, 1.0), Normal(0.3, 0.02), Normal(-1e5, 1e-5), Normal(-0.0, 1.0), Normal(0.0, 1e300),
        TruncatedNormal.absolute(0.0, 0.02, -2.0, 2.0), TruncatedNormal.absolute(0.0, 1.0, -2.0, 2.0),
        TruncatedNormal.absolute(0.0, 1.0, -0.0, 2.0), TruncatedNormal.absolute(0.0, 1.0, -2.0, 0.0),
        TruncatedNormal.sigma(0.0, 1.0, 4.0, 6.0), TruncatedNormal.sigma(0.0, 1.0, -6.0, -4.0),
        TruncatedNormal.sigma(1.0, 2.0, -30.0, -29.0), TruncatedNormal.sigma(0.0, 1.0, 0.5, 0.500003),
        TruncatedNormal.sigma(-0.0, 1.0, -1.0, 1.0), TruncatedNormal.sigma(0.0, 1.0, 8.0, 20.0),
        TruncatedNormal.sigma(0.0, 1.0, 0.1, 0.10000000000000002),
    ]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", distributions(), ids=lambda d: d.theory.label)
def test_every_distribution_in_every_dtype_is_the_references_bytes(dist, dtype):
    out_dtype = get_dtype(dtype)
    key = derive_key(11, "w")
    for start, count in [(0, 5000), (13, 1031), (2**33 + 1, 517), (7, 1)]:
        with np.errstate(over="ignore"):  # values beyond float32 become inf, as IEEE says, with a warning
            expected = out_dtype.round(reference(dist.sample, philox_words(key, start, count)))
        got = np.empty(count, dtype=out_dtype.storage)
        assert kernels.fill(dist.kernel, key, start, got, dtype)
        assert got.tobytes() == expected.tobytes(), (start, count)


def random_params(scheme, rng):
    """Random parameters a scheme accepts: its example's, each number scaled by chance."""
    params = dict(scheme.example.params)
    for name, value in list(params.items()):
        if isinstance(value, float) and rng.random() < 0.5:
            params[name] = value * float(rng.choice([0.5, 2.0, 1e-3, 10.0]))
    return params


ELEMENTWISE = sorted(name for name, scheme in REGISTRY.items() if scheme.family != "matrix")


@pytest.mark.parametrize("scheme_name", ELEMENTWISE)
def test_every_scheme_through_generate_is_the_references_bytes(scheme_name):
    scheme = REGISTRY[scheme_name]
    rng = np.random.default_rng(len(scheme_name))
    tried = 0
    for trial in range(30):
        shape = tuple(int(d) for d in rng.integers(1, 40, size=len(scheme.example.shape)))
        params = random_params(scheme, rng)
        spec = TensorSpec("w", shape, scheme_name, params, dtype=DTYPES[trial % 4], layout=scheme.example.layout)
        try:
            expected_plan = spec.plan
        except InitError:
            continue  # the drawn parameters are refused: both paths refuse alike
        assert expected_plan is not None
        seed = int(rng.integers(0, 2**63)) * 2 + 1
        start = int(rng.integers(0, spec.numel))
        stop = int(rng.integers(start, spec.numel + 1))
        assert generate(spec, seed, start, stop).tobytes() == reference(generate, spec, seed, start, stop).tobytes()
        tried += 1
    assert tried >= 10, f"only {tried} of the drawn {scheme_name} requests planned"


@pytest.mark.parametrize("by_columns", [True, False], ids=["torch-columns", "keras-rows"])
def test_sparse_zeros_the_references_entries_ties_to_the_lower_position(by_columns):
    """Random words almost never tie; these keys are drawn from a few values so ties are everywhere,
    including at the threshold: the zeros must be a stable sort's first k of each input."""
    from service.core.schemes.matrix import smallest_per_column

    rng = np.random.default_rng(3)
    # (rows, cols, distinct keys, shift): shifted by 53 the keys fall in different radix buckets;
    # unshifted small keys all share the first bucket (its sort decides); 2**62 keys almost never tie
    for rows, cols, alphabet, shift in [(40, 24, 3, 53), (97, 130, 5, 53), (7, 200, 2, 53), (64, 90, 1000, 0),
                                        (300, 65, 1 << 62, 0)]:  # fmt: skip
        keys = rng.integers(0, alphabet, size=(rows, cols), dtype=np.uint64) << np.uint64(shift)
        values = rng.standard_normal((rows, cols))
        groups, length = (cols, rows) if by_columns else (rows, cols)
        for k in sorted({1, length // 3, length}):
            units_keys, expected = (keys, values.copy()) if by_columns else (keys.T, values.T.copy())
            chosen = smallest_per_column(units_keys, k)
            np.put_along_axis(expected, chosen, 0.0, axis=0)
            expected = expected if by_columns else expected.T
            got = values.copy()
            COMPILED.sparse_zeros(got, keys, rows, cols, k, by_columns, 0, groups // 2)
            COMPILED.sparse_zeros(got, keys, rows, cols, k, by_columns, groups // 2, groups)
            assert np.array_equal(got, expected), (rows, cols, alphabet, k)


def test_sparse_refuses_a_bad_shape_or_count():
    values, keys = np.zeros((4, 3)), np.zeros((4, 3), dtype=np.uint64)
    for args in [(4, 3, 0, True, 0, 3), (4, 3, 5, True, 0, 3), (4, 3, 2, True, 0, 4), (4, 3, 4, False, 0, 4)]:
        with pytest.raises(ValueError):
            COMPILED.sparse_zeros(values, keys, *args)


def random_request(rng, scheme_name):
    """A request of one scheme: its example's layout, a shape near the example's (each dimension
    scaled by 1/2 .. 3), parameters scaled by chance, any dtype, seed and tensor name."""
    from service.core.artifact import Request

    scheme = REGISTRY[scheme_name]
    shape = tuple(max(1, int(d * rng.choice([0.5, 1, 1, 2, 3]))) for d in scheme.example.shape)
    dtype = DTYPES[int(rng.integers(0, 4))]
    spec = TensorSpec(f"layer{int(rng.integers(0, 99))}.weight", shape, scheme_name, random_params(scheme, rng),
                      dtype=dtype, layout=scheme.example.layout)  # fmt: skip
    _ = spec.plan  # InitError if the drawn request is refused (both paths refuse alike)
    return Request(int(rng.integers(0, 2**63)), (spec,))


def files_agree(scheme_name, trials, seed):
    from service.core.artifact import build

    rng = np.random.default_rng(seed)
    compared = 0
    for _ in range(trials):
        try:
            request = random_request(rng, scheme_name)
        except InitError:
            continue
        expected = reference(lambda request=request: build(request).to_bytes())
        assert build(request).to_bytes() == expected, request.canonical()
        compared += 1
    return compared


@pytest.mark.parametrize("scheme_name", sorted(REGISTRY))
def test_every_schemes_whole_file_is_the_references_bytes(scheme_name):
    """The file, header diagnostics included, of random requests of every scheme (matrix ones too)."""
    assert files_agree(scheme_name, 8, seed=len(scheme_name)) >= 3


@pytest.mark.slow  # about 2,000 files
@pytest.mark.parametrize("scheme_name", sorted(REGISTRY))
def test_many_random_files_of_every_scheme_are_the_references_bytes(scheme_name):
    assert files_agree(scheme_name, 100, seed=1000 + len(scheme_name)) >= 40


LINALG = kernels.extension("_linalg")
DIAGNOSE = kernels.extension("_diagnose")
needs_linalg = pytest.mark.skipif(LINALG is None, reason=f"no compiled linear algebra here: {kernels.describe()}")
needs_diagnose = pytest.mark.skipif(DIAGNOSE is None, reason=f"no compiled diagnostics here: {kernels.describe()}")


def same_bits(got, expected) -> bool:
    """Bit for bit (NaNs by position: their payloads are not part of any served byte)."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape or not np.array_equal(np.isnan(got), np.isnan(expected)):
        return False
    keep = ~np.isnan(got)
    return np.array_equal(got[keep].view(np.uint64), expected[keep].view(np.uint64))


def awkward(rng, shape):
    """Values of every scale with signed zeros, infinities and NaNs sprinkled in."""
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-60, 60, shape))
    flat = x.reshape(-1)
    if flat.size:
        for value in (0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -1e308, 5e-324):
            if rng.random() < 0.3:
                flat[rng.integers(0, flat.size)] = value
    return x


@needs_linalg
@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_tree_sums_along_every_axis_are_the_references_bits(ndim):
    rng = np.random.default_rng(ndim)
    for _ in range(60):
        shape = tuple(int(rng.choice([0, 1, 2, 3, 5, 7, 8, 9, 16, 17, 31, 64, 129, 1000])) for _ in range(ndim))
        x = awkward(rng, shape) if rng.random() < 0.5 else rng.standard_normal(shape)
        if ndim >= 2 and rng.random() < 0.3:
            x = np.swapaxes(x, 0, 1)  # not contiguous
        for axis in range(-ndim, ndim):
            assert same_bits(pinned.tree_sum(x, axis), reference(pinned.tree_sum, x, axis)), (x.shape, axis)


@needs_linalg
@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_products_are_the_references_bits():
    rng = np.random.default_rng(7)
    for _ in range(80):
        m, k, n = (int(rng.choice([0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 33, 100])) for _ in range(3))
        a = awkward(rng, (m, k)) if rng.random() < 0.3 else rng.standard_normal((m, k))
        b = rng.standard_normal((k, n))
        assert same_bits(pinned.matmul(a, b), reference(pinned.matmul, a, b)), (m, k, n)
        c = rng.standard_normal((n, k))
        assert same_bits(pinned.dot_rows(a, c), reference(pinned.dot_rows, a, c)), (m, k, n)
        assert same_bits(pinned.dot_rows(a, a.T.T), reference(pinned.dot_rows, a, a))


@needs_linalg
@pytest.mark.parametrize(("m", "n"), [(1, 1), (2, 1), (5, 5), (9, 7), (64, 33), (300, 17), (130, 130)])
def test_householder_columns_are_the_references_bits(m, n, monkeypatch):
    from service.core import parallel
    from service.core.householder import haar_columns

    z = np.random.default_rng(m * n).standard_normal((m, n))
    z[:, n // 2] = 0.0  # a zero column takes the reference's unit-column branch
    expected = reference(haar_columns, z)
    for threads in (1, 2, 3):
        monkeypatch.setattr(parallel, "THREADS", threads)
        assert same_bits(haar_columns(z), expected), threads


def diagnosed(spec, values, **kwargs):
    from service.core.diagnose import Accumulator

    acc = Accumulator(spec, **kwargs)
    for start in range(0, values.size, 70_001):  # across the 65536-element blocks
        acc.add(start, values.reshape(-1)[start : start + 70_001])
    full = spec.out_dtype.to_float64(values).reshape(spec.shape) if "sample" not in kwargs else None
    return acc.result(full)


@needs_diagnose
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["torch", "keras"])
def test_diagnostics_of_awkward_values_are_the_references(dtype, layout):
    """Signed zeros at the extremes, NaNs, infinities, zero and duplicate rows, out of support."""
    rng = np.random.default_rng(len(dtype) + len(layout))
    for scheme, shape in [("uniform", (300, 200)), ("normal", (7, 3, 3)), ("truncated_normal", (130_000,)),
                          ("xavier_normal", (3, 5)), ("lecun_uniform", (512, 300))]:  # fmt: skip
        spec = TensorSpec("w", shape, scheme, dtype=dtype, layout=layout)
        for trial in range(4):
            values = generate(spec, trial)
            flat = values.reshape(-1)
            kind = get_dtype(dtype)
            if trial == 1:
                flat[:: max(1, flat.size // 5)] = kind.round(np.array([-0.0]))[0]
            if trial == 2:
                for special in (np.nan, np.inf, -np.inf, 40.0, 0.0):
                    flat[rng.integers(0, flat.size)] = kind.round(np.array([special]))[0]
            if trial == 3 and len(shape) >= 2:
                values.reshape(shape[0], -1)[: shape[0] // 2] = 0  # zero rows: no coherence
            for kwargs in ({}, {"sample": flat.size}, {"checks": "moments"}):
                expected = reference(diagnosed, spec, values, **kwargs)
                assert diagnosed(spec, values, **kwargs) == expected, (scheme, trial)
