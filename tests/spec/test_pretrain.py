"""service.spec.pretrain: the body of POST /pretrain, its limits, the stack it trains, its data, and
the canonical form that names the job."""

import base64
import hashlib

import numpy as np
import pytest
from pydantic import ValidationError
from safetensors.numpy import save

from service.analysis.pretrain import Training
from service.core.errors import InitError
from service.spec.pretrain import MAX_LAYERS, PretrainRequest, canonical, to_network, training_data

DATA = np.linspace(-1.0, 1.0, 5 * 6, dtype=np.float32).reshape(5, 6)
UPLOAD = save({"data": DATA})


def body(**changes) -> PretrainRequest:
    request = {"input_width": 6, "layers": [{"width": 4}, {"width": 3, "activation": "tanh"}],
               "data": base64.b64encode(UPLOAD).decode()}  # fmt: skip
    return PretrainRequest.model_validate({**request, **changes})


def test_defaults_are_a_sigmoid_autoencoder_stack_from_xavier_with_zero_biases_and_adam():
    request = body()
    first = request.layers[0]
    assert first.activation == "sigmoid" and first.scheme.name == "xavier_uniform" and first.bias.name == "zeros"
    assert (request.seed, request.dtype, request.epochs, request.batch_size, request.learning_rate) == (
        0, "float32", 10, 32, 1e-3)  # fmt: skip
    assert request.training() == Training(epochs=10, batch_size=32, learning_rate=1e-3)
    assert body(epochs=3, batch_size=7, learning_rate=0.5).training() == Training(3, 7, 0.5)


def test_the_stack_chains_widths_and_names_tensors_as_init_does():
    net = to_network(body(dtype="float16", layers=[{"width": 4, "bias": None}, {"width": 3, "scheme": "orthogonal"}]))
    assert net.input_width == 6 and [layer.width for layer in net.layers] == [4, 3]
    assert [(layer.weight.name, layer.weight.shape) for layer in net.layers] == [
        ("layers.0.weight", (4, 6)), ("layers.1.weight", (3, 4))]  # fmt: skip
    assert net.layers[0].bias is None and net.layers[1].bias.name == "layers.1.bias"
    assert all(layer.weight.dtype == "float16" and layer.norm is None and not layer.residual for layer in net.layers)


def test_a_scheme_that_refuses_its_tensor_names_the_layer():
    with pytest.raises(InitError) as refused:
        to_network(body(layers=[{"width": 4}, {"width": 3, "scheme": {"name": "uniform", "a": 2, "b": 1}}]))
    assert refused.value.param == "layers.1.scheme.b"


def test_the_training_data_is_the_uploaded_tensor_as_float64_and_the_files_digest():
    x, digest = training_data(body())
    assert x.dtype == np.float64 and x.tolist() == DATA.astype(np.float64).tolist()
    assert digest == hashlib.sha256(UPLOAD).hexdigest()
    wrong = base64.b64encode(save({"data": np.zeros((5, 7), np.float32)})).decode()
    with pytest.raises(InitError) as refused:
        training_data(body(data=wrong))
    assert refused.value.param == "data"


def test_the_canonical_form_resolves_schemes_and_names_the_data_by_its_digest():
    request = body(layers=[{"width": 4, "scheme": "glorot_uniform"}, {"width": 3, "bias": None}])
    net = to_network(request)
    _, digest = training_data(request)
    form = canonical(request, net, digest)
    assert form["data"] == {"sha256": digest} and request.data not in str(form)  # the digest, not the upload
    xavier = {"name": "xavier_uniform", "gain": 1.0}  # glorot_uniform resolved, its gain stated
    assert form["layers"] == [
        {"width": 4, "activation": "sigmoid", "scheme": xavier, "bias": {"name": "zeros"}},
        {"width": 3, "activation": "sigmoid", "scheme": xavier, "bias": None},
    ]
    settings = ("seed", "dtype", "input_width", "epochs", "batch_size", "learning_rate")
    assert [form[k] for k in settings] == [0, "float32", 6, 10, 32, 1e-3]


def test_two_spellings_of_one_request_have_one_canonical_form():
    def form(request):
        return canonical(request, to_network(request), training_data(request)[1])

    short = body(layers=[{"width": 4}, {"width": 3, "activation": "tanh"}])
    spelled = body(layers=[{"width": 4, "activation": "sigmoid", "scheme": {"name": "xavier_uniform", "gain": 1},
                            "bias": {"name": "zeros"}}, {"width": 3, "activation": "tanh", "scheme": "glorot_uniform"}],
                   epochs=10.0)  # fmt: skip
    assert form(short) == form(spelled)
    assert form(short) != form(body(seed=1)) and form(short) != form(body(learning_rate=0.002))


@pytest.mark.parametrize(
    "changes",
    [
        {"layers": []},
        {"layers": [{"width": 2}] * (MAX_LAYERS + 1)},
        {"layers": [{"width": 2, "norm": "batchnorm"}]},
        {"layers": [{"width": 2, "repeat": 2}]},
        {"layers": [{"width": 0}]},
        {"epochs": 0},
        {"epochs": 201},
        {"epochs": True},
        {"batch_size": 0},
        {"batch_size": 4097},
        {"learning_rate": 0},
        {"learning_rate": 1.5},
        {"learning_rate": "0.1"},
        {"data": None},
        {"optimizer": "sgd"},
    ],
)
def test_out_of_range_or_unknown_values_are_validation_errors(changes):
    with pytest.raises(ValidationError):
        body(**changes)


def test_the_data_is_required():
    with pytest.raises(ValidationError, match="data"):
        PretrainRequest.model_validate({"input_width": 6, "layers": [{"width": 4}]})
