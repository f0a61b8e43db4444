"""Random access: any element range equals the same slice of the whole tensor, for every scheme."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.core.errors import InitError
from service.core.generate import CHUNK, TensorSpec, float64_values, generate, tensor
from service.core.registry import REGISTRY

DTYPES = ["float32", "float64", "float16", "bfloat16"]


def spec_for(name, dtype="float32", shape=None):
    """The scheme's example tensor (its declared shape, parameters and layout), or another shape."""
    example = REGISTRY[name].example
    return TensorSpec("layer.weight", shape or example.shape, name, example.params, dtype=dtype, layout=example.layout)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(REGISTRY)),
    dtype=st.sampled_from(DTYPES),
    bounds=st.tuples(st.integers(0, 1200), st.integers(0, 1200)),
    seed=st.integers(0, 2**64 - 1),
)
def test_any_slice_equals_the_slice_of_the_whole(name, dtype, bounds, seed):
    spec = spec_for(name, dtype)
    start, stop = sorted(min(b, spec.numel) for b in bounds)
    whole = generate(spec, seed)
    np.testing.assert_array_equal(generate(spec, seed, start, stop), whole[start:stop])


@pytest.mark.parametrize("name", ["normal", "uniform", "truncated_normal", "kaiming_uniform", "variance_scaling"])
def test_slices_across_chunk_boundaries_in_a_large_tensor(name):
    spec = TensorSpec("big", (3 * CHUNK + 77,), name, {"scale": 1.0} if name == "variance_scaling" else {},
                      fan_in=10, fan_out=10)  # fmt: skip
    whole = generate(spec, 7)
    for start, stop in [
        (0, 1),
        (CHUNK - 3, CHUNK + 3),
        (CHUNK, 2 * CHUNK),
        (5, 3 * CHUNK + 77),
        (3 * CHUNK, 3 * CHUNK + 77),
    ]:
        np.testing.assert_array_equal(generate(spec, 7, start, stop), whole[start:stop])


def test_a_tensors_bytes_depend_only_on_seed_name_and_its_own_spec():
    a = tensor(TensorSpec("encoder.weight", (64, 32), "normal"), 3)
    again = tensor(TensorSpec("encoder.weight", (64, 32), "normal"), 3)
    np.testing.assert_array_equal(a, again)
    assert not np.array_equal(a, tensor(TensorSpec("decoder.weight", (64, 32), "normal"), 3))
    assert not np.array_equal(a, tensor(TensorSpec("encoder.weight", (64, 32), "normal"), 4))


def test_element_i_takes_word_i_so_shapes_share_a_prefix():
    small = generate(TensorSpec("w", (10, 3), "normal"), 1)
    large = generate(TensorSpec("w", (20, 3), "normal"), 1)
    np.testing.assert_array_equal(small, large[:30])


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_every_dtype_is_the_rounding_of_the_float64_tensor(dtype):
    spec = TensorSpec("w", (300, 200), "kaiming_normal", dtype=dtype)
    exact = float64_values(spec, 5)
    np.testing.assert_array_equal(generate(spec, 5), spec.out_dtype.round(exact))
    np.testing.assert_array_equal(exact, generate(TensorSpec("w", (300, 200), "kaiming_normal", dtype="float64"), 5))


def test_ranges_outside_the_tensor_are_refused():
    spec = TensorSpec("w", (4, 4), "normal")
    for start, stop in [(-1, 3), (3, 2), (0, 17)]:
        with pytest.raises(InitError, match="outside"):
            generate(spec, 0, start, stop)
    assert generate(spec, 0, 5, 5).size == 0


def test_canonical_spec_names_every_parameter():
    spec = TensorSpec("w", (4, 4), "glorot_uniform", dtype="bfloat16", layout="keras", fan_in=9)
    assert spec.canonical() == {
        "name": "w",
        "shape": [4, 4],
        "dtype": "bfloat16",
        "layout": "keras",
        "scheme": {"name": "xavier_uniform", "gain": 1.0},
        "fan_in": 9,
    }


def test_whole_tensor_schemes_have_a_size_limit_and_random_access_ones_do_not():
    with pytest.raises(InitError, match="computes the whole tensor") as error:
        _ = TensorSpec("w", (8192, 8192), "sphere_rows").plan
    assert error.value.param == "shape"
    assert TensorSpec("w", (65536, 65536), "normal").plan.random_access


@pytest.mark.parametrize(
    ("scheme", "params", "dtype"),
    [("normal", {"std": 0.3}, "float32"), ("uniform", {}, "bfloat16"), ("orthogonal", {}, "float64"),
     ("variance_scaling", {"distribution": "uniform"}, "complex64"), ("truncated_normal", {}, "float8_e5m2")],
)  # fmt: skip
def test_generate_block_is_the_slice_of_the_whole_for_any_selection(scheme, params, dtype):
    from service.core.generate import generate_block

    spec = TensorSpec("w", (7, 9, 11), scheme, params, dtype, "jax")
    whole = generate(spec, 3).reshape(spec.shape)
    rng = np.random.default_rng(0)
    selections = [
        [np.arange(7), np.arange(9), np.arange(11)],  # everything: one range
        [np.arange(2, 5), np.arange(9), np.arange(11)],  # a row block (Shard(0)): one range
        [np.arange(7), np.arange(9), np.arange(4, 8)],  # a column block (Shard(2)): runs per row
        [np.array([1, 3, 5]), np.arange(0, 9, 2), np.array([0, 1, 2, 7, 8, 10])],  # strided (_StridedShard)
        [np.array([6, 0]), np.array([8]), np.arange(11)[::-1]],  # any order
        [np.arange(7), np.arange(0), np.arange(11)],  # an empty shard
    ] + [[np.sort(rng.choice(n, rng.integers(1, n + 1), replace=False)) for n in spec.shape] for _ in range(5)]
    for index in selections:
        expected = np.ascontiguousarray(whole[np.ix_(*index)]).reshape(-1)
        assert generate_block(spec, 3, index).tobytes() == expected.tobytes()
