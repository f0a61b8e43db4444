"""service.spec.network: the bodies of POST /diagnostics/network and POST /init/lsuv, their limits,
their translation into an analysis Network, and uploaded batches."""

import base64
import hashlib
import json

import numpy as np
import pytest
from pydantic import ValidationError
from safetensors.numpy import save

from service.core.errors import InitError
from service.spec.network import (
    MAX_BATCH,
    MAX_DEPTH,
    MAX_WIDTH,
    LsuvRequest,
    NetworkRequest,
    input_batch,
    to_network,
    uploaded_matrix,
)

STACK = {"input_width": 8, "layers": [{"width": 8, "scheme": "orthogonal"}]}


def network(**changes) -> NetworkRequest:
    return NetworkRequest.model_validate({**STACK, **changes})


def encoded(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


def raw_file(name: str, code: str, shape: list[int], data: bytes) -> bytes:
    """A safetensors file written by hand (for dtypes numpy cannot hold)."""
    header = json.dumps({name: {"dtype": code, "shape": shape, "data_offsets": [0, len(data)]}}).encode()
    return len(header).to_bytes(8, "little") + header + data


def test_defaults_and_the_example_are_a_valid_request():
    body = network()
    assert (body.seed, body.dtype, body.batch, body.jacobian, body.input) == (0, "float32", 256, "auto", None)
    layer = body.layers[0]
    assert (layer.activation, layer.bias, layer.norm, layer.residual, layer.repeat) == ("relu", None, None, False, 1)
    example = NetworkRequest.model_config["json_schema_extra"]["examples"][0]
    assert NetworkRequest.model_validate(example).layers[0].repeat == 50


def test_repeat_expands_into_consecutive_layers_named_as_init_names_them():
    body = network(input_width=5, dtype="float16", layers=[
        {"width": 7, "activation": "tanh", "scheme": "xavier_uniform", "bias": "zeros", "repeat": 2},
        {"width": 3, "scheme": {"name": "normal", "std": 0.5}, "norm": "layernorm"}])  # fmt: skip
    net = to_network(body)
    assert net.input_width == 5 and [layer.width for layer in net.layers] == [7, 7, 3]
    assert [layer.weight.name for layer in net.layers] == ["layers.0.weight", "layers.1.weight", "layers.2.weight"]
    assert [layer.weight.shape for layer in net.layers] == [(7, 5), (7, 7), (3, 7)]  # [width, fan_in]
    assert [layer.bias.name if layer.bias else None for layer in net.layers] == ["layers.0.bias", "layers.1.bias", None]
    assert all(layer.weight.dtype == "float16" for layer in net.layers)
    assert [layer.activation for layer in net.layers] == ["tanh", "tanh", "relu"]
    assert [layer.norm for layer in net.layers] == [None, None, "layernorm"]
    assert net.layers[2].weight.scheme == "normal" and net.layers[2].weight.params["std"] == 0.5


def test_a_scheme_that_refuses_its_tensor_is_blamed_on_the_layer_entry_that_asked_for_it():
    bad = {"name": "uniform", "a": 1, "b": 0}
    body = network(layers=[{"width": 8, "scheme": "orthogonal", "repeat": 3}, {"width": 4, "scheme": bad}])
    with pytest.raises(InitError) as refused:
        to_network(body)
    assert refused.value.param == "layers.1.scheme.b"  # the body's second entry, though the network's fourth layer
    body = network(layers=[{"width": 8, "scheme": "orthogonal", "bias": bad}])
    with pytest.raises(InitError) as refused:
        to_network(body)
    assert refused.value.param == "layers.0.bias.b"


def test_a_residual_layer_needs_equal_widths():
    with pytest.raises(InitError) as refused:
        to_network(network(layers=[{"width": 6, "scheme": "orthogonal", "residual": True}]))
    assert refused.value.param == "layers.0.residual" and "(8)" in str(refused.value) and "(6)" in str(refused.value)
    assert to_network(network(layers=[{"width": 8, "scheme": "orthogonal", "residual": True}])).layers[0].residual


@pytest.mark.parametrize(
    "changes",
    [
        {"input_width": 0},
        {"input_width": MAX_WIDTH + 1},
        {"input_width": True},
        {"batch": 1},
        {"batch": MAX_BATCH + 1},
        {"batch": 64.5},
        {"jacobian": "svd"},
        {"dtype": "int8"},
        {"layers": []},
        {"layers": [{"width": 8, "scheme": "orthogonal"}] * 101},
        {"layers": [{"width": 8, "scheme": "orthogonal", "activation": "swish"}]},
        {"layers": [{"width": 8, "scheme": "orthogonal", "norm": "groupnorm"}]},
        {"layers": [{"width": 8, "scheme": "orthogonal", "repeat": 0}]},
        {"layers": [{"width": 8, "scheme": "orthogonal", "residual": 1}]},
        {"layers": [{"width": 8}]},
        {"layers": [{"width": 8, "scheme": "orthogonal", "depth": 2}]},
    ],
)
def test_out_of_range_or_unknown_values_are_validation_errors(changes):
    with pytest.raises(ValidationError):
        network(**changes)


@pytest.mark.parametrize("model", [NetworkRequest, LsuvRequest])
def test_the_whole_stack_is_at_most_max_depth_layers(model):
    layer = {"width": 4, "scheme": "orthogonal"} if model is NetworkRequest else {"width": 4}
    half = MAX_DEPTH // 2
    body = {"input_width": 4, "layers": [{**layer, "repeat": half}, {**layer, "repeat": MAX_DEPTH - half}]}
    assert sum(layer.repeat for layer in model.model_validate(body).layers) == MAX_DEPTH
    body["layers"][1]["repeat"] += 1
    with pytest.raises(ValidationError, match=f"the stack has {MAX_DEPTH + 1} layers; at most {MAX_DEPTH}"):
        model.model_validate(body)


def test_lsuv_requests_are_network_requests_whose_weights_start_orthogonal():
    layer = {"width": 6, "activation": "tanh", "bias": {"name": "normal", "std": 0.1}, "residual": True, "repeat": 2}
    body = LsuvRequest.model_validate(
        {"seed": 7, "dtype": "bfloat16", "input_width": 6, "batch": 10, "layers": [layer]}
    )
    assert (body.tolerance, body.max_iterations, body.target_variance) == (0.1, 10, 1.0)
    as_network = body.as_network()
    assert (as_network.seed, as_network.dtype, as_network.input_width, as_network.batch) == (7, "bfloat16", 6, 10)
    (layer,) = as_network.layers
    assert layer.scheme.name == "orthogonal" and layer.bias.name == "normal" and layer.bias.std == 0.1
    assert (layer.width, layer.activation, layer.residual, layer.repeat, layer.norm) == (6, "tanh", True, 2, None)


@pytest.mark.parametrize(
    "changes",
    [{"tolerance": 0}, {"tolerance": 1.5}, {"max_iterations": 0}, {"max_iterations": 101}, {"target_variance": 0},
     {"target_variance": 101}, {"layers": [{"width": 4, "scheme": "orthogonal"}]}],
)  # fmt: skip
def test_lsuv_settings_out_of_range_are_validation_errors(changes):
    with pytest.raises(ValidationError):
        LsuvRequest.model_validate({"input_width": 4, "layers": [{"width": 4}], **changes})


def test_an_upload_is_read_as_float64_rows_and_named_by_the_files_digest():
    x = np.arange(12, dtype=np.float16).reshape(3, 4)
    blob = save({"input": x, "other": np.zeros(1, np.float32)})
    matrix, digest = uploaded_matrix(encoded(blob), "input", 4)
    assert matrix.dtype == np.float64 and matrix.tolist() == x.astype(np.float64).tolist()
    assert digest == hashlib.sha256(blob).hexdigest()


@pytest.mark.parametrize(
    ("upload", "words"),
    [
        ("not base64!", "not base64"),
        (encoded(b"\x08\x00\x00\x00\x00\x00\x00\x00{}"), "not a valid safetensors file"),
        (encoded(save({"x": np.zeros((2, 4), np.float32)})), "no tensor named 'input'"),
        (encoded(save({"input": np.zeros((2, 5), np.float32)})), "[rows >= 2, 4]"),
        (encoded(save({"input": np.zeros((1, 4), np.float32)})), "[rows >= 2, 4]"),
        (encoded(save({"input": np.zeros(8, np.float32)})), "[rows >= 2, 4]"),
        (encoded(save({"input": np.array([[0, 1, 2, np.inf]] * 2, np.float32)})), "inf or NaN"),
        (encoded(save({"input": np.array([[0, 1, 2, np.nan]] * 2)})), "inf or NaN"),
        (encoded(raw_file("input", "F8_E4M3", [2, 4], bytes(8))), "fp8"),
    ],
    ids=["base64", "not safetensors", "no tensor", "width", "one row", "rank 1", "inf", "nan", "fp8"],
)
def test_a_bad_upload_is_refused_naming_the_field(upload, words):
    with pytest.raises(InitError) as refused:
        uploaded_matrix(upload, "input", 4)
    assert refused.value.param == "input" and words in str(refused.value)


def test_integer_uploads_are_read_as_numbers():
    matrix, _ = uploaded_matrix(encoded(save({"data": np.arange(8, dtype=np.int32).reshape(2, 4)})), "data", 4)
    assert matrix.tolist() == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]


def test_the_input_batch_is_the_upload_or_none_and_at_most_max_batch_rows():
    assert input_batch(network()) is None
    x = np.ones((5, 8), np.float32)
    assert input_batch(network(input=encoded(save({"input": x})))).shape == (5, 8)
    too_many = encoded(save({"input": np.ones((MAX_BATCH + 1, 8), np.float32)}))
    with pytest.raises(InitError) as refused:
        input_batch(network(input=too_many))
    assert refused.value.param == "input" and f"at most {MAX_BATCH:,}" in str(refused.value)
