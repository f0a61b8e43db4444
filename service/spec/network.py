"""The body of POST /diagnostics/network and POST /init/lsuv: a stack of layers to initialize."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator

from ..analysis.activations import NAMES as ACTIVATION_NAMES
from ..analysis.network import NORMS, DenseLayer, Network, layer_tensors
from ..core.errors import InitError
from ..core.generate import TensorSpec
from ..core.read import from_base64, read
from .fields import Dtype, Seed, strict_float, strict_int
from .schemes import SchemeSpec, scheme_params

__all__ = [
    "Activation",
    "Batch",
    "LsuvLayer",
    "LsuvRequest",
    "MAX_BATCH",
    "MAX_DEPTH",
    "MAX_WIDTH",
    "NetworkLayer",
    "NetworkRequest",
    "Norm",
    "Repeat",
    "StackLayer",
    "Width",
    "input_batch",
    "planned_layer",
    "to_network",
    "uploaded_matrix",
]

MAX_DEPTH = 1000
MAX_WIDTH = 8192
Width = Annotated[int, Field(ge=1, le=MAX_WIDTH), BeforeValidator(strict_int)]
Repeat = Annotated[int, Field(ge=1, le=MAX_DEPTH), BeforeValidator(strict_int)]
MAX_BATCH = 4096
Batch = Annotated[int, Field(ge=2, le=MAX_BATCH), BeforeValidator(strict_int)]
Activation = Literal[ACTIVATION_NAMES]  # type: ignore[valid-type]  # the names come from the analysis package
Norm = Literal[NORMS]  # type: ignore[valid-type]  # the same


def _depth(layers: list[NetworkLayer] | list[LsuvLayer]) -> None:
    depth = sum(layer.repeat for layer in layers)
    if depth > MAX_DEPTH:
        raise ValueError(f"the stack has {depth} layers; at most {MAX_DEPTH}")


class StackLayer(BaseModel):
    """What every layer of a stack of dense layers says (the stacks of /diagnostics/network,
    /init/lsuv and /pretrain): its width and its activation."""

    model_config = ConfigDict(extra="forbid")
    width: Width = Field(description=f"units, at most {MAX_WIDTH}")
    activation: Activation = "relu"


class NetworkLayer(StackLayer):
    """One layer (or ``repeat`` identical ones): x' = [x +] phi(norm(W x + b))."""

    scheme: SchemeSpec = Field(description="init of the weight, shaped [width, fan_in] (torch layout)")
    bias: SchemeSpec | None = Field(None, description="init of the bias (none: no bias)")
    norm: Norm | None = Field(None, description="normalization before the activation")
    residual: StrictBool = Field(False, description="add the layer's input to its output (equal widths)")
    repeat: Repeat = Field(1, description="identical layers in a row")


class NetworkRequest(BaseModel):
    """A stack to initialize and probe with a batch."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "seed": 0,
                    "input_width": 256,
                    "layers": [{"width": 256, "activation": "tanh", "scheme": "orthogonal", "repeat": 50}],
                }
            ]
        },
    )
    seed: Seed = 0
    dtype: Dtype = Field("float32", description="dtype the weights are generated in (as POST /init would)")
    input_width: Width = Field(description=f"features of the input, at most {MAX_WIDTH}")
    layers: list[NetworkLayer] = Field(min_length=1, max_length=100)
    batch: Batch = Field(256, description="synthetic N(0, 1) inputs")
    input: str | None = Field(
        None, description="base64 safetensors with a tensor 'input' [batch, input_width]: your data instead of N(0, 1)"
    )
    jacobian: Literal["auto", "exact", "probes"] = Field(
        "auto", description="exact SVD up to width 512 (auto), or Hutchinson probes and power iteration"
    )

    @model_validator(mode="after")
    def _fits(self) -> NetworkRequest:
        _depth(self.layers)
        return self


def to_network(body: NetworkRequest) -> Network:
    """The core Network; InitError with the body's field path if a scheme refuses its tensor."""
    layers, fan_in, index = [], body.input_width, 0
    for position, spec in enumerate(body.layers):
        if spec.residual and spec.width != fan_in:
            raise InitError(f"a residual layer needs its input width ({fan_in}) to equal its width ({spec.width})",
                            param=f"layers.{position}.residual", allowed="false, or equal widths")  # fmt: skip
        weight = scheme_params(spec.scheme)
        bias = None if spec.bias is None else scheme_params(spec.bias)
        for _ in range(spec.repeat):
            w, b = planned_layer(index, position, fan_in, spec.width, weight, bias, body.dtype)
            layers.append(DenseLayer(spec.width, spec.activation, w, b, spec.norm, spec.residual))
            fan_in, index = spec.width, index + 1
    return Network(body.input_width, tuple(layers))


def planned_layer(index: int, position: int, fan_in: int, width: int, weight: tuple[str, dict],
                  bias: tuple[str, dict] | None, dtype: str) -> tuple[TensorSpec, TensorSpec | None]:  # fmt: skip
    """Layer ``index``'s weight and bias specs (``layers.{index}.weight`` / ``.bias``); InitError
    naming ``layers.{position}.scheme`` or ``.bias`` if a scheme refuses its tensor."""
    w, b = layer_tensors(index, fan_in, width, weight, bias, dtype)
    for tensor, field in ((w, "scheme"), (b, "bias")):
        if tensor is None:
            continue
        try:
            _ = tensor.plan
        except InitError as error:
            param = error.param or ""
            detail = param[len("scheme") :] if param.startswith("scheme") else ""
            raise InitError(str(error), param=f"layers.{position}.{field}{detail}", allowed=error.allowed) from None
    return w, b


def uploaded_matrix(encoded: str, field: str, width: int) -> tuple[np.ndarray, str]:
    """The tensor named ``field`` of a base64 safetensors upload, as float64 [rows >= 2, width],
    and the SHA-256 of the file; InitError naming ``field`` otherwise."""
    blob = from_base64(encoded, field)
    tensors, _ = read(blob, field=field)
    if field not in tensors:
        raise InitError(f"the file has no tensor named {field!r}", param=field, allowed=f"a tensor {field!r}")
    if not tensors[field].readable:
        raise InitError(f"{field} holds fp8 values", param=field, allowed="a float or integer tensor")
    x = tensors[field].float64()
    if x.ndim != 2 or x.shape[1] != width or x.shape[0] < 2:
        raise InitError(f"{field} must be [rows >= 2, {width}], got {list(x.shape)}", param=field,
                        allowed=f"a tensor [rows >= 2, {width}]")  # fmt: skip
    if not np.isfinite(x).all():
        raise InitError(f"{field} holds inf or NaN", param=field, allowed="finite values")
    return x, hashlib.sha256(blob).hexdigest()


def input_batch(body: NetworkRequest) -> np.ndarray | None:
    """The client's batch (tensor 'input' of the upload) as float64; None if absent. At most
    MAX_BATCH rows, as ``batch``: the diagnostics compare every pair of rows (batch^2 memory)."""
    if body.input is None:
        return None
    x = uploaded_matrix(body.input, "input", body.input_width)[0]
    if x.shape[0] > MAX_BATCH:
        raise InitError(f"input has {x.shape[0]:,} rows; at most {MAX_BATCH:,}", param="input",
                        allowed=f"a tensor [2 .. {MAX_BATCH} rows, {body.input_width}]")  # fmt: skip
    return x


class LsuvLayer(StackLayer):
    """One plain layer (or ``repeat`` of them) for LSUV: the weight starts orthogonal."""

    bias: SchemeSpec | None = Field(None, description="init of the bias (none: no bias)")
    residual: StrictBool = False
    repeat: Repeat = 1


class LsuvRequest(BaseModel):
    """LSUV: orthogonal weights rescaled layer by layer until each output has the target variance."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "seed": 0,
                    "input_width": 32,
                    "batch": 64,
                    "layers": [{"width": 32, "activation": "tanh", "repeat": 4}],
                }
            ]
        },
    )
    seed: Seed = 0
    dtype: Dtype = "float32"
    input_width: Width = Field(description=f"features of the input, at most {MAX_WIDTH}")
    layers: list[LsuvLayer] = Field(min_length=1, max_length=100)
    batch: Batch = Field(256, description="synthetic N(0, 1) inputs")
    input: str | None = Field(None, description="base64 safetensors with a tensor 'input' [batch, input_width]")
    tolerance: Annotated[float, Field(gt=0, le=1), BeforeValidator(strict_float)] = Field(
        0.1, description="stop when |variance - target| < tolerance"
    )
    max_iterations: Annotated[int, Field(ge=1, le=100), BeforeValidator(strict_int)] = 10
    target_variance: Annotated[float, Field(gt=0, le=100), BeforeValidator(strict_float)] = 1.0

    @model_validator(mode="after")
    def _fits(self) -> LsuvRequest:
        _depth(self.layers)  # as NetworkRequest does: as_network() must not fail
        return self

    def as_network(self) -> NetworkRequest:
        """The same stack as a network request whose weights are orthogonal."""
        layers = [
            NetworkLayer(
                width=layer.width,
                activation=layer.activation,
                scheme="orthogonal",
                bias=layer.bias,
                residual=layer.residual,
                repeat=layer.repeat,
            )  # fmt: skip
            for layer in self.layers
        ]
        return NetworkRequest(seed=self.seed, dtype=self.dtype, input_width=self.input_width, layers=layers,
                              batch=self.batch, input=self.input)  # fmt: skip
