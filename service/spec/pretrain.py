"""The body of POST /pretrain: a stack of layers, training data and optimizer settings."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ..analysis.network import DenseLayer, Network
from ..analysis.pretrain import Training
from .fields import Dtype, Seed, strict_float, strict_int
from .network import MAX_WIDTH, Activation, StackLayer, Width, planned_layer, uploaded_matrix
from .schemes import SchemeSpec, scheme_params

__all__ = ["MAX_LAYERS", "PretrainLayer", "PretrainRequest", "canonical", "to_network", "training_data"]

MAX_LAYERS = 20
# The example's data: a safetensors file with a tensor 'data', float32 [4, 8], (i mod 7) / 7.
EXAMPLE_DATA = (
    "QAAAAAAAAAB7ImRhdGEiOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzQsOF0sImRhdGFfb2Zmc2V0cyI6WzAsMTI4XX19ICAgAAAAACVJEj4lSZI+"
    "t23bPiVJEj9u2zY/t21bPwAAAAAlSRI+JUmSPrdt2z4lSRI/bts2P7dtWz8AAAAAJUkSPiVJkj63bds+JUkSP27bNj+3bVs/AAAAACVJEj4lSZI+"
    "t23bPiVJEj9u2zY/t21bPwAAAAAlSRI+JUmSPrdt2z4="
)


class PretrainLayer(StackLayer):
    """One layer, pre-trained as a tied autoencoder: code = activation(W x + b), x^ = W^T code + c."""

    width: Width = Field(description=f"units (the code's width), at most {MAX_WIDTH}")
    activation: Activation = Field("sigmoid", description="the encoder's activation")
    scheme: SchemeSpec = Field(
        "xavier_uniform", validate_default=True, description="init of the weight [width, fan_in] before training"
    )
    bias: SchemeSpec | None = Field(
        "zeros", validate_default=True, description="init of the encoder bias before training (null: no bias)"
    )


class PretrainRequest(BaseModel):
    """Greedy layer-wise autoencoder pre-training on your data, run as a job."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "seed": 0,
                    "input_width": 8,
                    "layers": [{"width": 4}, {"width": 2}],
                    "data": EXAMPLE_DATA,
                    "epochs": 10,
                }
            ]
        },
    )
    seed: Seed = 0
    dtype: Dtype = Field("float32", description="dtype of the weights in the file (training is in float64)")
    input_width: Width = Field(description="features per row of the data")
    layers: list[PretrainLayer] = Field(min_length=1, max_length=MAX_LAYERS, description="trained in this order")
    data: str = Field(
        description="base64 of a safetensors file holding a tensor 'data' [N >= 2, input_width] (any float dtype)"
    )
    epochs: Annotated[int, Field(ge=1, le=200), BeforeValidator(strict_int)] = Field(
        10, description="passes over the data per layer"
    )
    batch_size: Annotated[int, Field(ge=1, le=4096), BeforeValidator(strict_int)] = Field(
        32, description="rows per Adam step (the last minibatch of an epoch may be shorter)"
    )
    learning_rate: Annotated[float, Field(gt=0, le=1), BeforeValidator(strict_float)] = Field(
        1e-3, description="Adam's step size (beta1 0.9, beta2 0.999, eps 1e-8)"
    )

    def training(self) -> Training:
        return Training(self.epochs, self.batch_size, self.learning_rate)


def to_network(body: PretrainRequest) -> Network:
    """The stack as a core Network (tensors ``layers.{i}.weight`` / ``.bias``); InitError with the
    field path if a scheme refuses its tensor."""
    layers, fan_in = [], body.input_width
    for index, spec in enumerate(body.layers):
        bias = None if spec.bias is None else scheme_params(spec.bias)
        w, b = planned_layer(index, index, fan_in, spec.width, scheme_params(spec.scheme), bias, body.dtype)
        layers.append(DenseLayer(spec.width, spec.activation, w, b))
        fan_in = spec.width
    return Network(body.input_width, tuple(layers))


def training_data(body: PretrainRequest) -> tuple[np.ndarray, str]:
    """The rows to train on (float64, [N, input_width]) and the SHA-256 of the uploaded file."""
    return uploaded_matrix(body.data, "data", body.input_width)


def canonical(body: PretrainRequest, net: Network, data_sha256: str) -> dict[str, Any]:
    """What the result depends on: schemes resolved to canonical names and every parameter, the
    data named by the SHA-256 of the uploaded file."""
    layers = []
    for spec, layer in zip(body.layers, net.layers, strict=True):
        bias = None if layer.bias is None else layer.bias.canonical()["scheme"]
        layers.append({"width": spec.width, "activation": spec.activation,
                       "scheme": layer.weight.canonical()["scheme"], "bias": bias})  # fmt: skip
    request = body.model_dump(exclude={"data", "layers"})
    return {**request, "layers": layers, "data": {"sha256": data_sha256}}
