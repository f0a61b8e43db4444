"""Layer dialects against the real frameworks: a flax-dialect file unflattens into the variables tree
a Flax linen model's ``init`` returns and ``apply`` runs on it; a keras-dialect file's names are the
paths of a Keras 3 model's weights, which take the values and run; and the random layer defaults
(Dense/Conv kernels, embeddings) draw what Flax's ``init`` and Keras's layers draw (KS, std,
bounds). Every initializer by name is compared in tests/core/schemes/test_peers.py."""

from __future__ import annotations

import os

import numpy as np
import pytest
from pydantic import TypeAdapter

from service.core.generate import TensorSpec, tensor
from service.spec.layers import LayerSpec, expand
from service.spec.request import InitRequest, to_request

pytestmark = pytest.mark.slow  # importing jax, flax and keras takes seconds: the full lane only
os.environ.setdefault("KERAS_BACKEND", "jax")  # Keras 3 without it asks for tensorflow

LAYER = TypeAdapter(LayerSpec)
SEED = 3

# The layers of both models below, as a request writes them.
LAYERS = [
    {"type": "linear", "name": "fc", "in_features": 6, "out_features": 4},
    {"type": "linear", "name": "head", "in_features": 4, "out_features": 3, "bias": False},
    {"type": "linear", "name": "enc/fc", "in_features": 4, "out_features": 2},  # a module inside another
    {"type": "embedding", "name": "emb", "num_embeddings": 10, "embedding_dim": 3},
    {"type": "layernorm", "name": "ln", "normalized_shape": 3},
    {"type": "layernorm", "name": "ln2", "normalized_shape": [5, 3], "bias": False},
    {"type": "conv2d", "name": "conv", "in_channels": 6, "out_channels": 4, "kernel_size": [3, 1], "groups": 2},
    {"type": "batchnorm2d", "name": "bn", "num_features": 4},
    {"type": "batchnorm2d", "name": "bn_plain", "num_features": 4, "affine": False},
    {"type": "conv1d", "name": "conv1", "in_channels": 6, "out_channels": 5, "kernel_size": 3, "bias": False},
]


def inputs() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6)).astype(np.float32)
    tokens = rng.integers(0, 10, (2, 5)).astype(np.int32)
    image = rng.standard_normal((2, 8, 8, 6)).astype(np.float32)
    seq = rng.standard_normal((2, 7, 6)).astype(np.float32)
    return x, tokens, image, seq


def generated(dialect: str, layout: str, dtype: str = "float32") -> dict[str, np.ndarray]:
    """name -> the tensor the service makes, from expand's Planned as to_request turns them into specs."""
    out = {}
    for layer in LAYERS:
        for p in expand(LAYER.validate_python(layer), layout, dialect):
            spec = TensorSpec(
                p.name, p.shape, p.scheme, p.params, p.dtype or dtype, p.layout or layout, p.fan_in, p.fan_out
            )
            assert p.name not in out
            out[p.name] = typed(tensor(spec, SEED), spec.dtype)
    if "dialect" in InitRequest.model_fields:  # once the request speaks dialects, it must say the same
        body = {"seed": SEED, "dtype": dtype, "layout": layout, "dialect": dialect, "layers": LAYERS}
        request = to_request(InitRequest.model_validate(body))
        assert [s.name for s in request.tensors] == list(out)
        for spec in request.tensors:
            np.testing.assert_array_equal(typed(tensor(spec, SEED), spec.dtype), out[spec.name])
    return out


def typed(stored: np.ndarray, dtype: str) -> np.ndarray:
    """The core's stored bits (bfloat16 as uint16) as an array of ``dtype``, as a framework reads the file."""
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes is not installed (jax installs it)")
    wanted = np.dtype(getattr(ml_dtypes, dtype)) if dtype == "bfloat16" else np.dtype(dtype)
    return stored if stored.dtype == wanted else stored.view(wanted)


# --- Flax ---------------------------------------------------------------------------------------------


def flax_model(param_dtype):
    nn = pytest.importorskip("flax.linen", reason="flax is not installed (pip install -e '.[test]' installs it)")
    jnp = pytest.importorskip("jax.numpy", reason="jax is not installed (pip install -e '.[test]' installs it)")

    class Encoder(nn.Module):
        @nn.compact
        def __call__(self, h):
            return nn.Dense(2, name="fc", param_dtype=param_dtype)(h)

    class Model(nn.Module):
        @nn.compact
        def __call__(self, x, tokens, image, seq, train: bool):
            kw = {"param_dtype": param_dtype}
            h = nn.Dense(4, name="fc", **kw)(x)
            out = [nn.Dense(3, use_bias=False, name="head", **kw)(h), Encoder(name="enc")(h)]
            e = nn.LayerNorm(name="ln", **kw)(nn.Embed(10, 3, name="emb", **kw)(tokens))
            out.append(
                nn.LayerNorm(reduction_axes=(-2, -1), feature_axes=(-2, -1), use_bias=False, name="ln2", **kw)(e)
            )
            c = nn.Conv(4, (3, 1), feature_group_count=2, name="conv", **kw)(image)
            c = nn.BatchNorm(use_running_average=not train, name="bn", **kw)(c)
            out.append(nn.BatchNorm(use_running_average=not train, use_scale=False, use_bias=False, name="bn_plain")(c))
            out.append(nn.Conv(5, (3,), use_bias=False, name="conv1", **kw)(seq))
            return jnp.concatenate([o.reshape(-1).astype(jnp.float32) for o in out])

    return Model()


@pytest.mark.parametrize("dialect, layout", [("flax", "jax"), ("jax", "jax"), ("flax", "keras")])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_flax_dialect_file_unflattens_into_the_tree_flax_init_returns_and_apply_runs(dialect, layout, dtype):
    jax = pytest.importorskip("jax", reason="jax is not installed (pip install -e '.[test]' installs it)")
    jnp = pytest.importorskip("jax.numpy")
    traverse_util = pytest.importorskip("flax.traverse_util", reason="flax is not installed")
    model = flax_model(jnp.dtype(dtype))
    x, tokens, image, seq = inputs()
    theirs = model.init(jax.random.key(0), x, tokens, image, seq, train=False)

    files = generated(dialect, layout, dtype)
    ours = traverse_util.unflatten_dict({name: jnp.asarray(value) for name, value in files.items()}, sep="/")
    assert jax.tree_util.tree_structure(ours) == jax.tree_util.tree_structure(theirs)
    described = jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), ours)
    assert described == jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), theirs)
    assert {a.dtype for a in jax.tree_util.tree_leaves(theirs["batch_stats"])} == {jnp.dtype("float32")}

    flat = traverse_util.flatten_dict(theirs, sep="/")
    constant = [name for name in flat if not name.endswith(("/kernel", "/embedding"))]
    assert len(constant) == 12  # scales, norm biases, means, variances and the dense biases
    for name in constant:  # Flax's defaults for these are ones and zeros: the very values
        np.testing.assert_array_equal(np.asarray(flat[name]), np.asarray(files[name]))

    out = model.apply(ours, x, tokens, image, seq, train=False)
    assert out.shape == model.apply(theirs, x, tokens, image, seq, train=False).shape
    assert np.isfinite(np.asarray(out)).all()
    out, updated = model.apply(ours, x, tokens, image, seq, train=True, mutable=["batch_stats"])
    assert np.isfinite(np.asarray(out)).all()
    assert jax.tree_util.tree_structure(updated["batch_stats"]) == jax.tree_util.tree_structure(ours["batch_stats"])


# --- Keras 3 ------------------------------------------------------------------------------------------


def keras_model():
    keras = pytest.importorskip("keras", reason="keras is not installed (pip install -e '.[test]' installs it)")
    layers = keras.layers
    x, tokens, image, seq = (
        keras.Input((6,)),
        keras.Input((5,), dtype="int32"),
        keras.Input((8, 8, 6)),
        keras.Input((7, 6)),
    )
    h = layers.Dense(4, name="fc")(x)
    out = [layers.Dense(3, use_bias=False, name="head")(h)]
    out.append(keras.Sequential([layers.Dense(2, name="fc")], name="enc")(h))
    e = layers.LayerNormalization(name="ln")(layers.Embedding(10, 3, name="emb")(tokens))
    out.append(layers.LayerNormalization(axis=[-2, -1], center=False, name="ln2")(e))
    c = layers.BatchNormalization(name="bn")(layers.Conv2D(4, (3, 1), groups=2, name="conv")(image))
    out.append(layers.BatchNormalization(center=False, scale=False, name="bn_plain")(c))
    out.append(layers.Conv1D(5, 3, use_bias=False, name="conv1")(seq))
    return keras, keras.Model([x, tokens, image, seq], out)


@pytest.mark.parametrize("layout", ["keras", "jax"])
def test_a_keras_dialect_file_names_a_keras_models_weight_paths_which_take_the_values_and_run(layout):
    keras, model = keras_model()
    files = generated("keras", layout)
    weights = {w.path: w for w in model.weights}
    assert len(weights) == len(model.weights)
    assert {p: (tuple(w.shape), w.dtype) for p, w in weights.items()} == {
        name: (value.shape, str(value.dtype)) for name, value in files.items()
    }
    for layer in {path.rsplit("/", 1)[0] for path in weights}:  # each layer's in the order of its weights
        mine = [name for name in files if name.rsplit("/", 1)[0] == layer]
        assert mine == [path for path in weights if path.rsplit("/", 1)[0] == layer]

    for path, w in weights.items():
        if not path.endswith(("/kernel", "/embeddings")):  # Keras's defaults for these are ones and zeros
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(w.value), files[path])
        w.assign(files[path])
    for path, w in weights.items():
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w.value), files[path])
    for training in (False, True):
        for out in model(list(inputs()), training=training):
            assert np.isfinite(keras.ops.convert_to_numpy(out)).all()


# --- The frameworks' random layer defaults, in distribution ------------------------------------------

BIG = [
    {"type": "linear", "name": "dense", "in_features": 256, "out_features": 512},
    {"type": "conv2d", "name": "conv", "in_channels": 64, "out_channels": 96, "kernel_size": 3},
    {"type": "embedding", "name": "emb", "num_embeddings": 1000, "embedding_dim": 64},
]


def _same_distribution(mine: np.ndarray, theirs: np.ndarray, bounded: bool) -> None:
    from scipy import stats

    assert mine.shape == theirs.shape
    assert stats.ks_2samp(mine.ravel(), theirs.ravel()).pvalue > 1e-4
    assert mine.std() == pytest.approx(theirs.std(), rel=0.01)
    if bounded:
        assert np.abs(mine).max() == pytest.approx(np.abs(theirs).max(), rel=0.01)


def test_flax_layer_defaults_draw_what_flax_init_draws():
    jax = pytest.importorskip("jax", reason="jax is not installed (pip install -e '.[test]' installs it)")
    nn = pytest.importorskip("flax.linen", reason="flax is not installed (pip install -e '.[test]' installs it)")
    traverse_util = pytest.importorskip("flax.traverse_util")

    class Big(nn.Module):
        @nn.compact
        def __call__(self, x, image, tokens):
            return (
                nn.Dense(512, name="dense")(x),
                nn.Conv(96, (3, 3), name="conv")(image),
                nn.Embed(1000, 64, name="emb")(tokens),
            )

    dummy = (np.zeros((1, 256), np.float32), np.zeros((1, 5, 5, 64), np.float32), np.zeros((1, 2), np.int32))
    theirs = traverse_util.flatten_dict(Big().init(jax.random.key(0), *dummy), sep="/")
    body = {"seed": SEED, "dialect": "flax", "layers": BIG}
    ours = {s.name: tensor(s, SEED) for s in to_request(InitRequest.model_validate(body)).tensors}
    for name, bounded in (("params/dense/kernel", True), ("params/conv/kernel", True), ("params/emb/embedding", False)):
        _same_distribution(ours[name].astype(np.float64), np.asarray(theirs[name], dtype=np.float64), bounded)


def test_keras_layer_defaults_draw_what_keras_layers_draw():
    keras = pytest.importorskip("keras", reason="keras is not installed (pip install -e '.[test]' installs it)")
    keras.utils.set_random_seed(1)
    layers = {
        "dense": keras.layers.Dense(512, name="dense"),
        "conv": keras.layers.Conv2D(96, 3, name="conv"),
        "emb": keras.layers.Embedding(1000, 64, name="emb"),
    }
    layers["dense"].build((None, 256))
    layers["conv"].build((None, 5, 5, 64))
    layers["emb"].build((None, 2))
    theirs = {
        w.path: keras.ops.convert_to_numpy(w.value).astype(np.float64)
        for layer in layers.values()
        for w in layer.weights
    }
    body = {"seed": SEED, "dialect": "keras", "layers": BIG}
    ours = {s.name: tensor(s, SEED) for s in to_request(InitRequest.model_validate(body)).tensors}
    for name in ("dense/kernel", "conv/kernel", "emb/embeddings"):
        _same_distribution(ours[name].astype(np.float64), theirs[name], bounded=True)
