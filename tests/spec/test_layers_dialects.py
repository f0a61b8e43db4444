"""Layer dialects: initw/torch expansions exactly as before, Keras 3 and Flax names, shapes and defaults.

The real libraries are in test_layers_frameworks.py; here the names and shapes are written out."""

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from service.core.errors import InitError
from service.core.generate import TensorSpec, tensor
from service.spec.layers import (
    DIALECTS,
    LayerSpec,
    LinearLayer,
    Planned,
    expand,
    framework_of,
    tree_clash,
)
from service.spec.request import InitRequest, to_request

GOLDEN = json.loads((Path(__file__).parent / "layers_initw.json").read_text())
LAYER = TypeAdapter(LayerSpec)
OLD_FIELDS = ("name", "shape", "scheme", "params", "dtype", "fan_in", "fan_out", "source", "layout")


def planned(layer: dict, layout: str = "jax", dialect: str = "flax") -> list[Planned]:
    return expand(LAYER.validate_python(layer), layout, dialect)


def specs(layers: list[dict], layout: str = "jax", dialect: str = "flax", dtype: str = "float32") -> dict:
    """name -> core TensorSpec, as to_request makes them from Planned."""
    out = {}
    for layer in layers:
        for p in planned(layer, layout, dialect):
            out[p.name] = TensorSpec(
                p.name, p.shape, p.scheme, p.params, p.dtype or dtype, p.layout or layout, p.fan_in, p.fan_out
            )
    return out


def shapes(layer: dict, layout: str = "jax", dialect: str = "flax") -> dict[str, tuple[int, ...]]:
    return {p.name: p.shape for p in planned(layer, layout, dialect)}


def linear(**extra) -> dict:
    return {"type": "linear", "name": "fc", "in_features": 6, "out_features": 4, **extra}


def conv(kind: str = "conv2d", **extra) -> dict:
    return {"type": kind, "name": "conv", "in_channels": 6, "out_channels": 4, "kernel_size": 3, **extra}


EMB = {"type": "embedding", "name": "emb", "num_embeddings": 10, "embedding_dim": 3}


# --- initw and torch: exactly as before dialects ------------------------------------------------------


def _old(p: Planned) -> dict:
    row = dataclasses.asdict(p)
    return {key: list(row[key]) if key == "shape" else row[key] for key in OLD_FIELDS}


@pytest.mark.parametrize("layout", ["torch", "keras", "jax"])
@pytest.mark.parametrize("dialect", [None, "initw", "torch"])
def test_initw_and_torch_expansions_are_those_of_78b63ac(layout, dialect):
    for layer, before in zip(GOLDEN["layers"], GOLDEN["expansions"][layout], strict=True):
        model = LAYER.validate_python(layer)
        got = expand(model, layout) if dialect is None else expand(model, layout, dialect)
        assert [_old(p) for p in got] == before, layer


@pytest.mark.parametrize("layout", ["torch", "keras", "jax"])
def test_initw_requests_with_layers_keep_their_canonical_specs_and_bytes(layout):
    layers = [{**layer, "name": f"l{i}/{layer['name']}"} for i, layer in enumerate(GOLDEN["layers"])]
    request = to_request(InitRequest.model_validate({"seed": 5, "layout": layout, "layers": layers}))
    mine = specs(layers, layout, "torch")  # the torch dialect is initw's meaning, through expand directly
    assert [s.name for s in request.tensors] == list(mine)
    for through in (request.tensors, mine.values()):
        digest = hashlib.sha256()
        for spec in through:
            digest.update(json.dumps(spec.canonical(), sort_keys=True).encode())
            digest.update(tensor(spec, seed=5).tobytes())
        assert digest.hexdigest() == GOLDEN["digests"][layout]


def test_a_layer_without_preset_says_none_and_the_dialect_decides():
    layer = LinearLayer.model_validate(linear())
    assert layer.preset is None
    assert "preset" not in layer.model_dump(exclude_unset=True)
    schema = LinearLayer.model_json_schema()["properties"]["preset"]
    assert schema["default"] is None
    assert "dialect" in schema["description"]
    assert schema["anyOf"] == [{"enum": ["torch", "keras", "flax"], "type": "string"}, {"type": "null"}]


def test_framework_of_each_dialect():
    assert {d: framework_of(d) for d in DIALECTS} == {
        "initw": "torch",
        "torch": "torch",
        "keras": "keras",
        "jax": "flax",
        "flax": "flax",
    }
    with pytest.raises(InitError) as error:
        framework_of("tensorflow")
    assert error.value.param == "dialect"


# --- Flax names and shapes ---------------------------------------------------------------------------

# (layer, Flax linen variables flattened with "/"), checked against flax.linen in test_layers_frameworks.py
FLAX = [
    (linear(), {"params/fc/kernel": (6, 4), "params/fc/bias": (4,)}),
    (linear(bias=False), {"params/fc/kernel": (6, 4)}),
    (conv("conv1d"), {"params/conv/kernel": (3, 6, 4), "params/conv/bias": (4,)}),
    (conv("conv2d", kernel_size=[5, 1]), {"params/conv/kernel": (5, 1, 6, 4), "params/conv/bias": (4,)}),
    (conv("conv3d", kernel_size=[1, 2, 3], groups=2, bias=False), {"params/conv/kernel": (1, 2, 3, 3, 4)}),
    (EMB, {"params/emb/embedding": (10, 3)}),
    (
        {"type": "batchnorm2d", "name": "bn", "num_features": 5},
        {"params/bn/scale": (5,), "params/bn/bias": (5,), "batch_stats/bn/mean": (5,), "batch_stats/bn/var": (5,)},
    ),
    (
        {"type": "batchnorm", "name": "bn", "num_features": 2, "affine": False},
        {"batch_stats/bn/mean": (2,), "batch_stats/bn/var": (2,)},
    ),
    ({"type": "layernorm", "name": "ln", "normalized_shape": 7}, {"params/ln/scale": (7,), "params/ln/bias": (7,)}),
    ({"type": "layernorm", "name": "ln", "normalized_shape": [3, 4], "bias": False}, {"params/ln/scale": (3, 4)}),
    ({"type": "layernorm", "name": "ln", "normalized_shape": 7, "elementwise_affine": False}, {}),
    (linear(name="enc/block_0/fc"), {"params/enc/block_0/fc/kernel": (6, 4), "params/enc/block_0/fc/bias": (4,)}),
]  # fmt: skip

KERAS = [
    (linear(), {"fc/kernel": (6, 4), "fc/bias": (4,)}),
    (linear(bias=False), {"fc/kernel": (6, 4)}),
    (conv("conv2d", groups=2), {"conv/kernel": (3, 3, 3, 4), "conv/bias": (4,)}),
    (conv("conv1d", kernel_size=[7], bias=False), {"conv/kernel": (7, 6, 4)}),
    (EMB, {"emb/embeddings": (10, 3)}),
    (
        {"type": "batchnorm1d", "name": "bn", "num_features": 5},
        {"bn/gamma": (5,), "bn/beta": (5,), "bn/moving_mean": (5,), "bn/moving_variance": (5,)},
    ),
    (
        {"type": "batchnorm3d", "name": "bn", "num_features": 2, "affine": False},
        {"bn/moving_mean": (2,), "bn/moving_variance": (2,)},
    ),
    ({"type": "layernorm", "name": "ln", "normalized_shape": [3, 4]}, {"ln/gamma": (3, 4), "ln/beta": (3, 4)}),
    ({"type": "layernorm", "name": "ln", "normalized_shape": 7, "bias": False}, {"ln/gamma": (7,)}),
    (linear(name="block/fc"), {"block/fc/kernel": (6, 4), "block/fc/bias": (4,)}),  # a Sequential named block
]


@pytest.mark.parametrize("layout", ["jax", "keras"])
@pytest.mark.parametrize("dialect", ["flax", "jax"])
@pytest.mark.parametrize("layer, expected", FLAX)
def test_flax_names_and_shapes(layer, expected, dialect, layout):
    got = shapes(layer, layout, dialect)
    assert got == expected
    assert list(got) == list(expected), "params before batch_stats, kernel before bias"


@pytest.mark.parametrize("layout", ["jax", "keras"])
@pytest.mark.parametrize("layer, expected", KERAS)
def test_keras_paths_and_shapes(layer, expected, layout):
    got = shapes(layer, layout, "keras")
    assert got == expected
    assert list(got) == list(expected), "the order of layer.weights"


def test_flax_batch_stats_stay_float32_like_flax_and_keras_stats_follow_the_layer():
    bn = {"type": "batchnorm2d", "name": "bn", "num_features": 3}
    flax = {p.name: p.dtype for p in planned({**bn, "dtype": "bfloat16"})}
    assert flax == {
        "params/bn/scale": "bfloat16",
        "params/bn/bias": "bfloat16",
        "batch_stats/bn/mean": "float32",  # flax.linen.BatchNorm(force_float32_reductions=True)
        "batch_stats/bn/var": "float32",
    }
    assert {s.dtype for s in specs([bn], dtype="float64").values()} == {"float64", "float32"}
    keras = {p.name: p.dtype for p in planned({**bn, "dtype": "float16"}, "keras", "keras")}
    assert set(keras.values()) == {"float16"}


# --- defaults per dialect ----------------------------------------------------------------------------


@pytest.mark.parametrize("layer", [linear(), conv("conv2d"), conv("conv1d", groups=2)])
@pytest.mark.parametrize("dialect", ["jax", "flax"])
def test_flax_default_is_truncated_lecun_normal_and_zero_bias(layer, dialect):
    weight, bias = specs([layer], dialect=dialect).values()
    assert (weight.scheme, weight.params) == ("lecun_normal", {})
    assert (bias.scheme, bias.params) == ("zeros", {})
    fan_in = weight.shape[-2] * math.prod(weight.shape[:-2])
    assert weight.plan.theory.std == pytest.approx(1 / math.sqrt(fan_in), rel=1e-12)


@pytest.mark.parametrize("layer", [linear(), conv("conv2d"), conv("conv1d", groups=2)])
def test_keras_default_is_glorot_uniform_and_zero_bias(layer):
    weight, bias = specs([layer], "keras", "keras").values()
    assert (weight.scheme, weight.params) == ("xavier_uniform", {})
    receptive = math.prod(weight.shape[:-2])
    limit = math.sqrt(6 / (receptive * (weight.shape[-2] + weight.shape[-1])))  # keras GlorotUniform
    assert weight.plan.theory.high == pytest.approx(limit, rel=1e-12)
    assert (bias.scheme, bias.params) == ("zeros", {})


def test_embedding_defaults_per_dialect():
    [flax] = specs([EMB], dialect="flax").values()
    assert (flax.scheme, flax.params, flax.fan_in) == (
        "variance_scaling",
        {"scale": 1.0, "mode": "fan_in", "distribution": "normal"},
        3,
    )
    assert flax.plan.theory.std == pytest.approx(1 / math.sqrt(3), rel=1e-15)  # N(0, 1/features)
    [keras] = specs([EMB], "keras", "keras").values()
    assert (keras.scheme, keras.params) == ("uniform", {"a": -0.05, "b": 0.05})
    [torch] = specs([EMB], "torch", "torch").values()
    assert (torch.name, torch.scheme, torch.params) == ("emb.weight", "normal", {})


@pytest.mark.parametrize("dialect, layout", [("flax", "jax"), ("keras", "keras")])
def test_norm_defaults_are_ones_and_zeros_in_every_dialect(dialect, layout):
    bn = {"type": "batchnorm", "name": "bn", "num_features": 3}
    ln = {"type": "layernorm", "name": "ln", "normalized_shape": 3}
    got = [(s.scheme, s.params) for s in specs([bn, ln], layout, dialect).values()]
    assert got == [("ones", {}), ("zeros", {}), ("zeros", {}), ("ones", {}), ("ones", {}), ("zeros", {})]


@pytest.mark.parametrize("dialect, layout", [("flax", "jax"), ("jax", "keras"), ("keras", "keras")])
def test_an_explicit_preset_keeps_its_framework_whatever_the_dialect(dialect, layout):
    weight, bias = specs([linear(preset="torch")], layout, dialect).values()
    assert (weight.scheme, weight.params) == ("kaiming_uniform", {"a": math.sqrt(5)})
    assert bias.params == {"a": -1 / math.sqrt(6), "b": 1 / math.sqrt(6)}
    [emb] = specs([{**EMB, "preset": "keras"}], layout, dialect).values()
    assert (emb.scheme, emb.params) == ("uniform", {"a": -0.05, "b": 0.05})
    weight, _ = specs([linear(preset="flax")], layout, dialect).values()
    assert weight.scheme == "lecun_normal"
    weight, bias = specs([linear(weight_init="orthogonal", bias_init="ones")], layout, dialect).values()
    assert (weight.scheme, bias.scheme) == ("orthogonal", "ones")


def test_defaults_are_marked_as_initw_words_and_given_schemes_as_the_users():
    for dialect, layout in (("initw", "torch"), ("flax", "jax"), ("keras", "keras")):
        weight, bias = planned(linear(bias_init="ones"), layout, dialect)
        assert (weight.vocabulary, bias.vocabulary) == ("initw", None)
        weight, bias = planned(linear(weight_init="orthogonal"), layout, dialect)
        assert (weight.vocabulary, bias.vocabulary) == (None, "initw")
        [emb] = planned({**EMB, "weight_init": "zeros"}, layout, dialect)
        assert emb.vocabulary is None
        for layer in (EMB, {"type": "batchnorm", "name": "bn", "num_features": 2}):
            assert {p.vocabulary for p in planned(layer, layout, dialect)} == {"initw"}


# --- what a dialect cannot express --------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["keras", "jax", "flax"])
@pytest.mark.parametrize("layer", [linear(), EMB, {"type": "layernorm", "name": "ln", "normalized_shape": 2}])
def test_the_framework_dialects_refuse_the_torch_layout_naming_the_layout_field(dialect, layer):
    with pytest.raises(InitError) as error:
        planned(layer, "torch", dialect)
    assert error.value.param == "layout"
    assert '"jax"' in str(error.value) and dialect in str(error.value)
    assert error.value.allowed == "jax, keras"


@pytest.mark.parametrize("dialect", ["keras", "jax", "flax"])
@pytest.mark.parametrize("name", ["enc//fc", "enc/", "a/b/"])
def test_an_empty_scope_in_a_layer_name_is_refused_in_the_framework_dialects(dialect, name):
    with pytest.raises(InitError) as error:
        planned(linear(name=name), "jax", dialect)
    assert error.value.param == "name"
    assert "scope" in str(error.value)
    for old in ("initw", "torch"):  # PyTorch names are plain strings: as before
        assert [p.name for p in planned(linear(name=name), "jax", old)] == [f"{name}.weight", f"{name}.bias"]


@pytest.mark.parametrize("dialect", ["keras", "flax"])
def test_batchnorm_without_running_stats_has_no_keras_or_flax_equivalent(dialect):
    layer = {"type": "batchnorm2d", "name": "bn", "num_features": 3, "track_running_stats": False}
    with pytest.raises(InitError) as error:
        planned(layer, "jax", dialect)
    assert error.value.param == "track_running_stats"
    assert list(shapes(layer, "jax", "torch")) == ["bn.weight", "bn.bias"]


def test_tree_clash_finds_a_leaf_that_is_also_a_scope():
    assert tree_clash(["params/fc/kernel", "params/fc/bias", "params/enc/fc/kernel"]) is None
    assert tree_clash(["params/fc/kernel", "params/fc/kernel/bias"]) == ("params/fc/kernel", "params/fc/kernel/bias")
    assert tree_clash(["w", "w/x"]) == ("w", "w/x")
    assert tree_clash(["fc.weight", "fc.weight.x"]) is None  # only "/" makes scopes
    layers = [linear(name="fc"), linear(name="fc/kernel")]
    names = [p.name for layer in layers for p in planned(layer)]
    assert tree_clash(names) == ("params/fc/kernel", "params/fc/kernel/bias")


def test_expand_refuses_an_unknown_dialect_and_an_unknown_layer():
    with pytest.raises(InitError) as error:
        planned(linear(), "jax", "tensorflow")
    assert error.value.param == "dialect"
    with pytest.raises(TypeError):
        expand(InitRequest.model_validate({"shape": [1], "scheme": "zeros"}), "jax", "flax")
