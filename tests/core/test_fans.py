"""Fans per layout and PyTorch's calculate_gain, value for value and error for error."""

import math

import pytest

from service.core.errors import InitError
from service.core.fans import Fans, calculate_gain, matrix_view


@pytest.mark.parametrize(
    ("nonlinearity", "param", "gain"),
    [
        ("linear", None, 1.0),
        ("conv1d", None, 1.0),
        ("conv2d", None, 1.0),
        ("conv3d", None, 1.0),
        ("conv_transpose1d", None, 1.0),
        ("conv_transpose2d", None, 1.0),
        ("conv_transpose3d", None, 1.0),
        ("sigmoid", None, 1.0),
        ("tanh", None, 1.6666666666666667),
        ("relu", None, 1.4142135623730951),
        ("leaky_relu", None, 1.4141428569978354),
        ("leaky_relu", 0, 1.4142135623730951),
        ("leaky_relu", 0.01, 1.4141428569978354),
        ("leaky_relu", 10, 0.14071950894605836),
        ("leaky_relu", math.sqrt(5), 0.5773502691896257),
        ("selu", None, 0.75),
    ],
)
def test_gains_equal_pytorch_exactly(nonlinearity, param, gain):
    assert calculate_gain(nonlinearity, param) == gain


@pytest.mark.parametrize("param", [True, False, [1], {"a": "b"}, "0.1", float("nan"), float("inf")])
def test_leaky_relu_slope_must_be_a_number(param):
    with pytest.raises(InitError, match="negative_slope"):
        calculate_gain("leaky_relu", param)


@pytest.mark.parametrize("name", ["identity", "Relu", "gelu", "ab", "xxxxxxxxxxxxxxxxxxxxxxxxx"])
def test_unknown_nonlinearity_is_refused_with_the_allowed_list(name):
    with pytest.raises(InitError, match=f"Unsupported nonlinearity {name}") as error:
        calculate_gain(name)
    assert error.value.param == "nonlinearity"
    assert "leaky_relu" in error.value.allowed


@pytest.mark.parametrize(
    ("shape", "layout", "fan_in", "fan_out"),
    [
        ((256, 784), "torch", 784, 256),
        ((64, 3, 5, 7), "torch", 3 * 35, 64 * 35),
        ((16, 4, 3), "torch", 12, 48),
        ((784, 256), "keras", 784, 256),
        ((5, 7, 3, 64), "keras", 3 * 35, 64 * 35),
        ((5, 7, 3, 64), "jax", 3 * 35, 64 * 35),
        ((10,), "keras", 10, 10),
        ((), "keras", 1, 1),
    ],
)
def test_fans_follow_each_framework(shape, layout, fan_in, fan_out):
    fans = Fans(shape, layout)
    assert (fans.fan_in, fans.fan_out) == (fan_in, fan_out)


@pytest.mark.parametrize("layout", ["torch", "jax"])
@pytest.mark.parametrize("shape", [(), (7,)])
def test_rank_below_two_needs_explicit_fans_in_torch_and_jax(layout, shape):
    with pytest.raises(InitError, match="fewer than 2 dimensions") as error:
        _ = Fans(shape, layout).fan_in
    assert error.value.param == "shape"
    assert Fans(shape, layout, fan_in_override=12, fan_out_override=3).fan_in == 12


def test_overrides_win_and_modes_combine_fans():
    fans = Fans((256, 784), "torch", fan_in_override=100)
    assert (fans.fan_in, fans.fan_out) == (100, 256)
    assert fans.by_mode("fan_avg") == 178.0
    assert fans.by_mode("fan_geo_avg") == math.sqrt(100.0 * 256.0)
    with pytest.raises(InitError, match="mode"):
        fans.by_mode("fan_max")


def test_matrix_views_flatten_like_each_framework():
    assert matrix_view((64, 3, 5, 5), "torch") == (64, 75)
    assert matrix_view((5, 5, 3, 64), "keras") == (75, 64)
    assert matrix_view((5, 5, 3, 64), "jax") == (75, 64)


@pytest.mark.slow  # imports torch
def test_fans_agree_with_torch_when_installed():
    torch = pytest.importorskip("torch")
    for shape in [(256, 784), (64, 3, 5, 7), (16, 4, 3), (2, 3, 4, 5, 6)]:
        expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        assert (Fans(shape, "torch").fan_in, Fans(shape, "torch").fan_out) == expected
    for name in ["linear", "tanh", "relu", "selu", "sigmoid"]:
        assert calculate_gain(name) == torch.nn.init.calculate_gain(name)
    for slope in [None, 0, 0.01, 10, math.sqrt(5)]:
        assert calculate_gain("leaky_relu", slope) == torch.nn.init.calculate_gain("leaky_relu", slope)
