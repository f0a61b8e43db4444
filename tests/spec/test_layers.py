"""Layers: PyTorch state_dict names, shapes per layout, and each framework's default init."""

import math

import numpy as np
import pytest
from pydantic import ValidationError

from service.core.artifact import build
from service.core.generate import tensor
from service.spec.layers import expand
from service.spec.request import InitRequest, to_request

LAYOUTS = ["torch", "keras", "jax"]


def tensors(layer: dict, layout: str = "torch", **body) -> dict:
    """name -> core TensorSpec of one layer's tensors, in expansion order."""
    req = to_request(InitRequest.model_validate({"layout": layout, "layers": [layer], **body}))
    return {t.name: t for t in req.tensors}


def shapes(layer: dict, layout: str = "torch") -> dict[str, tuple[int, ...]]:
    return {name: spec.shape for name, spec in tensors(layer, layout).items()}


def linear(**extra) -> dict:
    return {"type": "linear", "name": "fc", "in_features": 6, "out_features": 4, **extra}


def conv(kind: str = "conv2d", **extra) -> dict:
    return {"type": kind, "name": "conv", "in_channels": 6, "out_channels": 4, "kernel_size": 3, **extra}


# --- shapes ---------------------------------------------------------------------------------------

# (layer, torch shapes, keras/jax shapes or None where they equal torch's)
SHAPES = [
    (linear(), {"fc.weight": (4, 6), "fc.bias": (4,)}, {"fc.weight": (6, 4), "fc.bias": (4,)}),
    (linear(bias=False), {"fc.weight": (4, 6)}, {"fc.weight": (6, 4)}),
    (conv("conv1d"), {"conv.weight": (4, 6, 3), "conv.bias": (4,)}, {"conv.weight": (3, 6, 4), "conv.bias": (4,)}),
    (
        conv("conv2d"),
        {"conv.weight": (4, 6, 3, 3), "conv.bias": (4,)},
        {"conv.weight": (3, 3, 6, 4), "conv.bias": (4,)},
    ),
    (
        conv("conv3d", kernel_size=[1, 2, 3]),
        {"conv.weight": (4, 6, 1, 2, 3), "conv.bias": (4,)},
        {"conv.weight": (1, 2, 3, 6, 4), "conv.bias": (4,)},
    ),
    (
        conv("conv2d", kernel_size=[5, 1]),
        {"conv.weight": (4, 6, 5, 1), "conv.bias": (4,)},
        {"conv.weight": (5, 1, 6, 4), "conv.bias": (4,)},
    ),
    (
        conv("conv1d", kernel_size=[7]),
        {"conv.weight": (4, 6, 7), "conv.bias": (4,)},
        {"conv.weight": (7, 6, 4), "conv.bias": (4,)},
    ),
    (
        conv("conv2d", groups=2, bias=False),
        {"conv.weight": (4, 3, 3, 3)},
        {"conv.weight": (3, 3, 3, 4)},
    ),
    (
        {"type": "conv1d", "name": "dw", "in_channels": 8, "out_channels": 8, "kernel_size": 5, "groups": 8},
        {"dw.weight": (8, 1, 5), "dw.bias": (8,)},
        {"dw.weight": (5, 1, 8), "dw.bias": (8,)},
    ),
    (
        {"type": "embedding", "name": "emb", "num_embeddings": 10, "embedding_dim": 3},
        {"emb.weight": (10, 3)},
        {"emb.weight": (10, 3)},
    ),
    (
        {"type": "batchnorm2d", "name": "bn", "num_features": 5},
        {
            "bn.weight": (5,),
            "bn.bias": (5,),
            "bn.running_mean": (5,),
            "bn.running_var": (5,),
            "bn.num_batches_tracked": (),
        },
        None,
    ),
    (
        {"type": "batchnorm", "name": "bn", "num_features": 2, "affine": False},
        {"bn.running_mean": (2,), "bn.running_var": (2,), "bn.num_batches_tracked": ()},
        None,
    ),
    ({"type": "layernorm", "name": "ln", "normalized_shape": 7}, {"ln.weight": (7,), "ln.bias": (7,)}, None),
    (
        {"type": "layernorm", "name": "ln", "normalized_shape": [3, 4]},
        {"ln.weight": (3, 4), "ln.bias": (3, 4)},
        None,
    ),
    ({"type": "layernorm", "name": "ln", "normalized_shape": [7], "bias": False}, {"ln.weight": (7,)}, None),
    ({"type": "layernorm", "name": "ln", "normalized_shape": 7, "elementwise_affine": False, "bias": True}, {}, None),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("layer, torch_shapes, other_shapes", SHAPES)
def test_layer_shapes_follow_the_layout(layer, torch_shapes, other_shapes, layout):
    expected = torch_shapes if layout == "torch" or other_shapes is None else other_shapes
    if expected:
        got = shapes(layer, layout)
        assert got == expected
        assert list(got) == list(expected), "state_dict order"
    else:
        req = to_request(InitRequest.model_validate({"layout": layout, "layers": [layer]}))
        assert req.tensors == ()


def test_batchnorm_variants_all_expand_alike_and_without_running_stats_keep_only_the_affine_pair():
    for kind in ("batchnorm", "batchnorm1d", "batchnorm2d", "batchnorm3d"):
        assert list(shapes({"type": kind, "name": "bn", "num_features": 3})) == [
            "bn.weight",
            "bn.bias",
            "bn.running_mean",
            "bn.running_var",
            "bn.num_batches_tracked",
        ]
    layer = {"type": "batchnorm", "name": "bn", "num_features": 3, "track_running_stats": False}
    assert shapes(layer) == {"bn.weight": (3,), "bn.bias": (3,)}


def test_batchnorm_num_batches_tracked_is_a_0d_int64_zero_and_the_rest_are_ones_and_zeros():
    specs = tensors({"type": "batchnorm1d", "name": "bn", "num_features": 4, "dtype": "float16"})
    counter = specs["bn.num_batches_tracked"]
    assert (counter.shape, counter.dtype, counter.scheme) == ((), "int64", "zeros")
    assert counter.out_dtype.safetensors == "I64"
    value = tensor(counter, seed=1)
    assert value.shape == () and value.dtype == np.int64 and value == 0
    schemes = {name: spec.scheme for name, spec in specs.items()}
    assert schemes == {
        "bn.weight": "ones",
        "bn.bias": "zeros",
        "bn.running_mean": "zeros",
        "bn.running_var": "ones",
        "bn.num_batches_tracked": "zeros",
    }
    assert {spec.dtype for name, spec in specs.items() if name != "bn.num_batches_tracked"} == {"float16"}


def test_layernorm_weight_is_ones_and_bias_zeros():
    specs = tensors({"type": "layernorm", "name": "ln", "normalized_shape": [2, 3]})
    assert (specs["ln.weight"].scheme, specs["ln.bias"].scheme) == ("ones", "zeros")


# --- framework defaults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer, fan_in",
    [
        (linear(), 6),
        (linear(in_features=1), 1),
        (conv("conv1d"), 6 * 3),
        (conv("conv2d"), 6 * 9),
        (conv("conv3d", kernel_size=[2, 3, 4]), 6 * 24),
        (conv("conv2d", groups=3, out_channels=6), 2 * 9),
        (conv("conv2d", kernel_size=[1, 5], groups=6, out_channels=6), 1 * 5),
    ],
)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_torch_preset_is_kaiming_uniform_sqrt5_and_bias_uniform_of_one_over_sqrt_fan_in(layer, fan_in, layout):
    specs = list(tensors(layer, layout).values())
    weight, bias = specs
    assert (weight.scheme, weight.params) == ("kaiming_uniform", {"a": math.sqrt(5)})
    bound = 1 / math.sqrt(fan_in)  # exactly torch's expression
    assert bias.scheme == "uniform"
    assert bias.params == {"a": -bound, "b": bound}
    # kaiming_uniform(a=sqrt(5)) is U(+-1/sqrt(fan_in)): the weight's own fan agrees with the bias's.
    assert weight.plan.theory.high == pytest.approx(bound, rel=1e-15)
    assert bias.plan.theory.high == bound and bias.plan.theory.low == -bound


@pytest.mark.parametrize("layer", [linear(), conv("conv2d"), conv("conv1d", groups=2)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_keras_preset_is_xavier_uniform_with_zero_bias(layer, layout):
    weight, bias = tensors({**layer, "preset": "keras"}, layout).values()
    assert (weight.scheme, weight.params) == ("xavier_uniform", {})
    assert (bias.scheme, bias.params) == ("zeros", {})


@pytest.mark.parametrize("layer", [linear(), conv("conv2d"), conv("conv3d", kernel_size=1)])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_flax_preset_is_lecun_normal_with_zero_bias(layer, layout):
    weight, bias = tensors({**layer, "preset": "flax"}, layout).values()
    assert (weight.scheme, weight.params) == ("lecun_normal", {})
    assert (bias.scheme, bias.params) == ("zeros", {})


@pytest.mark.parametrize("layout", LAYOUTS)
def test_embedding_framework_defaults(layout):
    base = {"type": "embedding", "name": "emb", "num_embeddings": 50, "embedding_dim": 16}
    [torch_w] = tensors(base, layout).values()
    assert (torch_w.scheme, torch_w.params) == ("normal", {})
    [keras_w] = tensors({**base, "preset": "keras"}, layout).values()
    assert (keras_w.scheme, keras_w.params) == ("uniform", {"a": -0.05, "b": 0.05})
    [flax_w] = tensors({**base, "preset": "flax"}, layout).values()
    assert flax_w.scheme == "variance_scaling"
    assert flax_w.params == {"scale": 1.0, "mode": "fan_in", "distribution": "normal"}
    assert flax_w.fan_in == 16  # flax nn.Embed: N(0, 1 / features)
    assert flax_w.plan.theory.std == pytest.approx(1 / math.sqrt(16), rel=1e-15)
    assert flax_w.canonical()["fan_in"] == 16


def test_explicit_weight_and_bias_init_override_every_preset():
    for preset in ("torch", "keras", "flax"):
        weight, bias = tensors(
            linear(preset=preset, weight_init={"name": "he_normal", "mode": "FAN_OUT"}, bias_init="ones")
        ).values()
        assert (weight.scheme, weight.params) == ("he_normal", {"mode": "fan_out"})
        assert weight.canonical()["scheme"]["name"] == "kaiming_normal"
        assert (bias.scheme, bias.params) == ("ones", {})
    [emb] = tensors(
        {"type": "embedding", "name": "e", "num_embeddings": 3, "embedding_dim": 2, "preset": "flax",
         "weight_init": {"name": "uniform", "a": -1, "b": 1}}
    ).values()  # fmt: skip
    assert (emb.scheme, emb.params, emb.fan_in) == ("uniform", {"a": -1.0, "b": 1.0}, None)


def test_only_one_of_weight_and_bias_may_be_given_the_other_keeps_the_preset():
    weight, bias = tensors(linear(weight_init="orthogonal")).values()
    assert weight.scheme == "orthogonal"
    assert bias.params == {"a": -1 / math.sqrt(6), "b": 1 / math.sqrt(6)}
    weight, bias = tensors(linear(bias_init={"name": "constant", "value": 0.1})).values()
    assert weight.params == {"a": math.sqrt(5)}
    assert (bias.scheme, bias.params) == ("constant", {"value": 0.1})


def test_a_fan_based_bias_scheme_uses_the_layers_fans():
    _, bias = tensors(conv("conv2d", bias_init="xavier_uniform")).values()
    assert (bias.fan_in, bias.fan_out) == (6 * 9, 4 * 9)
    assert bias.plan.theory.high == pytest.approx(math.sqrt(6 / (54 + 36)), rel=1e-15)


def test_layer_tensors_take_the_layer_dtype_or_the_request_dtype():
    specs = tensors(linear(), dtype="bfloat16")
    assert {s.dtype for s in specs.values()} == {"bfloat16"}
    specs = tensors(linear(dtype="float64"), dtype="bfloat16")
    assert {s.dtype for s in specs.values()} == {"float64"}


# --- invalid layers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer",
    [
        conv("conv2d", kernel_size=[3]),
        conv("conv2d", kernel_size=[3, 3, 3]),
        conv("conv1d", kernel_size=[3, 3]),
        conv("conv3d", kernel_size=[3, 3]),
        conv("conv2d", kernel_size=[]),
        conv("conv2d", kernel_size=[3, 3, 3, 3]),
        conv("conv2d", groups=4),  # in_channels 6 not divisible by 4
        conv("conv2d", groups=3, out_channels=4),  # out_channels 4 not divisible by 3
        conv("conv2d", kernel_size=0),
        conv("conv2d", groups=0),
        {"type": "conv4d", "name": "c", "in_channels": 1, "out_channels": 1, "kernel_size": 1},
        {"type": "linear", "name": "fc", "in_features": 2},
        linear(preset="tensorflow"),
        linear(name="bad name"),
        {"type": "layernorm", "name": "ln", "normalized_shape": []},
        {"type": "layernorm", "name": "ln", "normalized_shape": [1] * 9},
        {"type": "embedding", "name": "e", "num_embeddings": 0, "embedding_dim": 2},
        {"type": "batchnorm", "name": "bn", "num_features": 2, "affine": "yes"},
    ],
)
def test_invalid_layers_are_validation_errors(layer):
    with pytest.raises(ValidationError):
        InitRequest.model_validate({"layers": [layer]})


def test_expand_refuses_an_unknown_layer_type():
    with pytest.raises(TypeError):
        expand(InitRequest.model_validate({"shape": [1], "scheme": "zeros"}), "torch")


# --- against PyTorch --------------------------------------------------------------------------------


@pytest.mark.slow  # imports torch
def test_torch_linear_bias_bound_equals_the_generated_bias_b_and_weights_lie_within_torchs_bound():
    torch = pytest.importorskip("torch")
    init = torch.nn.init
    for in_features, out_features in ((784, 256), (3, 5), (1, 1), (1000, 7)):
        module = torch.nn.Linear(in_features, out_features)
        fan_in, _ = init._calculate_fan_in_and_fan_out(module.weight)
        torch_bias_bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0  # torch.nn.Linear.reset_parameters
        gain = init.calculate_gain("leaky_relu", math.sqrt(5))  # kaiming_uniform_(a=sqrt(5))
        torch_weight_bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))

        layer = {"type": "linear", "name": "fc", "in_features": in_features, "out_features": out_features}
        specs = tensors(layer)
        assert specs["fc.bias"].params["b"] == torch_bias_bound
        assert specs["fc.bias"].params["a"] == -torch_bias_bound
        weight = tensor(specs["fc.weight"], seed=11).astype(np.float64)
        bias = tensor(specs["fc.bias"], seed=11).astype(np.float64)
        # Rounding to float32 is monotonic, so values below the bound stay below its float32 rounding.
        assert np.abs(weight).max() <= np.float32(torch_weight_bound)
        assert np.abs(bias).max() <= np.float32(torch_bias_bound)
        if weight.size >= 1000:  # and they fill the interval, not a fraction of it
            assert np.abs(weight).max() > 0.99 * torch_weight_bound


def test_torch_modules_load_the_artifact_with_strict_load_state_dict():
    torch = pytest.importorskip("torch")
    from safetensors.torch import load

    body = {
        "seed": 3,
        "layers": [
            {"type": "linear", "name": "fc", "in_features": 5, "out_features": 3},
            {"type": "conv2d", "name": "conv", "in_channels": 4, "out_channels": 6, "kernel_size": [3, 1], "groups": 2},
            {"type": "embedding", "name": "emb", "num_embeddings": 7, "embedding_dim": 4},
            {"type": "batchnorm2d", "name": "bn", "num_features": 6},
            {"type": "layernorm", "name": "ln", "normalized_shape": [2, 3], "bias": False},
        ],
    }
    modules = torch.nn.ModuleDict(
        {
            "fc": torch.nn.Linear(5, 3),
            "conv": torch.nn.Conv2d(4, 6, (3, 1), groups=2),
            "emb": torch.nn.Embedding(7, 4),
            "bn": torch.nn.BatchNorm2d(6),
            "ln": torch.nn.LayerNorm([2, 3], bias=False),
        }
    )
    art = build(to_request(InitRequest.model_validate(body)))
    state = load(art.to_bytes())
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: tuple(v.shape) for k, v in modules.state_dict().items()}
    modules.load_state_dict(state, strict=True)
    assert modules["bn"].num_batches_tracked.dtype == torch.int64
    for name, value in modules.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), art.stored[name].reshape(value.shape))
