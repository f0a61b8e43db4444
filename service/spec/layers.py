"""Layers that expand into correctly shaped, PyTorch-named tensors, with framework defaults.

Shapes follow the request's layout (torch [out, in, *k]; keras/jax [*k, in, out]); names follow
PyTorch's state_dict (``fc1.weight``, ``fc1.bias``, ``bn.running_var``), so a torch model loads
the file with ``load_state_dict``. A layer's weight and bias schemes are given explicitly or come
from the framework named by the layer's ``preset`` field:

    torch  Linear/Conv weight kaiming_uniform(a = sqrt(5)) = U(+-1/sqrt(fan_in)), bias U(+-1/sqrt(fan_in));
           Embedding N(0, 1)
    keras  Dense/Conv kernel glorot_uniform, bias zeros; Embedding U(-0.05, 0.05)
    flax   Dense/Conv kernel lecun_normal (truncated), bias zeros; Embed N(0, 1/features)
    all    norm weight 1, bias 0; running_mean 0, running_var 1, num_batches_tracked 0 (int64)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from .fields import Dim, Dtype, Name
from .schemes import SchemeSpec, scheme_params

__all__ = [
    "BIAS_INIT",
    "BatchNormLayer",
    "ConvLayer",
    "DTYPE",
    "EmbeddingLayer",
    "FRAMEWORK",
    "Framework",
    "LayerNormLayer",
    "LayerSpec",
    "LinearLayer",
    "Planned",
    "WEIGHT_INIT",
    "expand",
]

Framework = Literal["torch", "keras", "flax"]
# The wire name of a layer's framework is "preset" (kept: requests are forever).
FRAMEWORK: Any = Field(
    "torch", description="framework whose default init fills weights and biases not given explicitly"
)
WEIGHT_INIT: Any = Field(None, description="scheme for the weight (default: the framework's)")
BIAS_INIT: Any = Field(None, description="scheme for the bias (default: the framework's)")
DTYPE: Any = Field(None, description="dtype of this layer's tensors (default: the request's)")


class _Layer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    dtype: Dtype | None = DTYPE


class LinearLayer(_Layer):
    """A fully connected layer: weight [out, in] (torch) or [in, out] (keras/jax), bias [out]."""

    type: Literal["linear"]
    in_features: Dim
    out_features: Dim
    bias: StrictBool = True
    preset: Framework = FRAMEWORK
    weight_init: SchemeSpec | None = WEIGHT_INIT
    bias_init: SchemeSpec | None = BIAS_INIT


class ConvLayer(_Layer):
    """A convolution: weight [out, in/groups, *k] (torch) or [*k, in/groups, out] (keras/jax)."""

    type: Literal["conv1d", "conv2d", "conv3d"]
    in_channels: Dim
    out_channels: Dim
    kernel_size: Dim | Annotated[list[Dim], Field(min_length=1, max_length=3)] = Field(
        description="one size for every spatial axis, or one per axis"
    )
    groups: Dim = 1
    bias: StrictBool = True
    preset: Framework = FRAMEWORK
    weight_init: SchemeSpec | None = WEIGHT_INIT
    bias_init: SchemeSpec | None = BIAS_INIT

    @model_validator(mode="after")
    def _fits(self) -> ConvLayer:
        axes = int(self.type[-2])
        if isinstance(self.kernel_size, list) and len(self.kernel_size) != axes:
            raise ValueError(f"kernel_size needs {axes} values for {self.type}, got {len(self.kernel_size)}")
        for what, channels in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if channels % self.groups:
                raise ValueError(f"{what} ({channels}) must be divisible by groups ({self.groups})")
        return self


class EmbeddingLayer(_Layer):
    """A lookup table: weight [num_embeddings, embedding_dim] in every layout."""

    type: Literal["embedding"]
    num_embeddings: Dim
    embedding_dim: Dim
    preset: Framework = FRAMEWORK
    weight_init: SchemeSpec | None = WEIGHT_INIT


class BatchNormLayer(_Layer):
    """BatchNorm: weight 1, bias 0 (affine); running_mean 0, running_var 1, num_batches_tracked 0."""

    type: Literal["batchnorm", "batchnorm1d", "batchnorm2d", "batchnorm3d"]
    num_features: Dim
    affine: StrictBool = True
    track_running_stats: StrictBool = True


class LayerNormLayer(_Layer):
    """LayerNorm: weight 1 and bias 0 over normalized_shape."""

    type: Literal["layernorm"]
    normalized_shape: Dim | Annotated[list[Dim], Field(min_length=1, max_length=8)]
    elementwise_affine: StrictBool = True
    bias: StrictBool = True


LayerSpec = Annotated[
    Union[LinearLayer, ConvLayer, EmbeddingLayer, BatchNormLayer, LayerNormLayer],  # noqa: UP007
    Field(discriminator="type"),
]


@dataclass(frozen=True)
class Planned:
    """One tensor a layer expands into, before it becomes a core TensorSpec."""

    name: str
    shape: tuple[int, ...]
    scheme: str
    params: dict[str, Any] = field(default_factory=dict)
    dtype: str | None = None
    fan_in: int | None = None
    fan_out: int | None = None
    source: str = ""  # the request field to blame for errors, relative to the layer
    layout: str | None = None  # architectures build PyTorch state dicts whatever the request's layout


def _given(spec: Any) -> tuple[str, dict[str, Any]] | None:
    return None if spec is None else scheme_params(spec)


def _framework_weight(framework: str) -> tuple[str, dict[str, Any]]:
    return {
        "torch": ("kaiming_uniform", {"a": math.sqrt(5)}),
        "keras": ("xavier_uniform", {}),
        "flax": ("lecun_normal", {}),
    }[framework]


def _framework_bias(framework: str, fan_in: int) -> tuple[str, dict[str, Any]]:
    if framework == "torch":
        bound = 1 / math.sqrt(fan_in)  # torch: bound = 1 / math.sqrt(fan_in); uniform_(bias, -bound, bound)
        return "uniform", {"a": -bound, "b": bound}
    return "zeros", {}


def _dense(layer: LinearLayer | ConvLayer, weight_shape: tuple[int, ...], fan_in: int, fan_out: int) -> list[Planned]:
    scheme, params = _given(layer.weight_init) or _framework_weight(layer.preset)
    out = [Planned(f"{layer.name}.weight", weight_shape, scheme, params, layer.dtype, source="weight_init")]
    if layer.bias:
        bias_out = layer.out_features if isinstance(layer, LinearLayer) else layer.out_channels
        scheme, params = _given(layer.bias_init) or _framework_bias(layer.preset, fan_in)
        # A bias shares its layer's fans, so fan-based schemes work on the 1-D tensor.
        out.append(
            Planned(f"{layer.name}.bias", (bias_out,), scheme, params, layer.dtype, fan_in, fan_out, "bias_init")
        )
    return out


def expand(layer: BaseModel, layout: str) -> list[Planned]:
    """The tensors of ``layer`` in ``layout``."""
    torch = layout == "torch"
    if isinstance(layer, LinearLayer):
        i, o = layer.in_features, layer.out_features
        return _dense(layer, (o, i) if torch else (i, o), i, o)
    if isinstance(layer, ConvLayer):
        axes = int(layer.type[-2])
        k = [layer.kernel_size] * axes if isinstance(layer.kernel_size, int) else list(layer.kernel_size)
        per_group = layer.in_channels // layer.groups
        shape = (layer.out_channels, per_group, *k) if torch else (*k, per_group, layer.out_channels)
        receptive = math.prod(k)
        return _dense(layer, tuple(shape), per_group * receptive, layer.out_channels * receptive)
    if isinstance(layer, EmbeddingLayer):
        shape = (layer.num_embeddings, layer.embedding_dim)
        given = _given(layer.weight_init)
        if given:
            return [Planned(f"{layer.name}.weight", shape, *given, layer.dtype, source="weight_init")]
        if layer.preset == "torch":
            return [Planned(f"{layer.name}.weight", shape, "normal", {}, layer.dtype)]
        if layer.preset == "keras":
            return [Planned(f"{layer.name}.weight", shape, "uniform", {"a": -0.05, "b": 0.05}, layer.dtype)]
        params = {"scale": 1.0, "mode": "fan_in", "distribution": "normal"}
        return [
            Planned(f"{layer.name}.weight", shape, "variance_scaling", params, layer.dtype, fan_in=layer.embedding_dim)
        ]
    if isinstance(layer, BatchNormLayer):
        n, name, out = (layer.num_features,), layer.name, []
        if layer.affine:
            out += [
                Planned(f"{name}.weight", n, "ones", {}, layer.dtype),
                Planned(f"{name}.bias", n, "zeros", {}, layer.dtype),
            ]
        if layer.track_running_stats:
            out += [
                Planned(f"{name}.running_mean", n, "zeros", {}, layer.dtype),
                Planned(f"{name}.running_var", n, "ones", {}, layer.dtype),
                Planned(f"{name}.num_batches_tracked", (), "zeros", {}, "int64"),
            ]
        return out
    if isinstance(layer, LayerNormLayer):
        shape = (layer.normalized_shape,) if isinstance(layer.normalized_shape, int) else tuple(layer.normalized_shape)
        out = []
        if layer.elementwise_affine:
            out.append(Planned(f"{layer.name}.weight", shape, "ones", {}, layer.dtype))
            if layer.bias:
                out.append(Planned(f"{layer.name}.bias", shape, "zeros", {}, layer.dtype))
        return out
    raise TypeError(f"unknown layer {type(layer).__name__}")
