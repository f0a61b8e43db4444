"""Layers that expand into correctly shaped tensors named as a framework names them, with its defaults.

Shapes follow the request's layout (torch [out, in, *k]; keras/jax [*k, in, out]). Names follow the
request's dialect:

    initw, torch  PyTorch's state_dict (``fc1.weight``, ``fc1.bias``, ``bn.running_var``,
                  ``bn.num_batches_tracked``): a torch model loads the file with ``load_state_dict``
    keras         Keras 3 variable paths (``fc1/kernel``, ``emb/embeddings``, ``bn/moving_variance``,
                  ``ln/gamma``): what ``layer.weights[i].path`` says
    jax, flax     a Flax linen variables tree flattened with "/" (``params/fc1/kernel``,
                  ``params/emb/embedding``, ``params/ln/scale``, ``batch_stats/bn/var``):
                  ``flax.traverse_util.unflatten_dict(file, sep="/")`` is what ``model.init`` returns

The keras, jax and flax dialects need a keras or jax layout (their kernels are [*k, in, out]); in
them a "/" in a layer's name separates scopes (``encoder/fc`` is the module ``fc`` inside
``encoder``), so no part of the name may be empty.

A layer's weight and bias schemes are given explicitly or come from the framework named by the
layer's ``preset`` field, by default the dialect's (torch for initw and torch, keras, flax for jax
and flax):

    torch  Linear/Conv weight kaiming_uniform(a = sqrt(5)) = U(+-1/sqrt(fan_in)), bias U(+-1/sqrt(fan_in));
           Embedding N(0, 1)
    keras  Dense/Conv kernel glorot_uniform, bias zeros; Embedding U(-0.05, 0.05)
    flax   Dense/Conv kernel lecun_normal (truncated), bias zeros; Embed N(0, 1/features)
    all    norm weight (scale, gamma) 1, bias (beta) 0; running mean 0, running variance 1;
           num_batches_tracked 0 (int64, torch names only)

Flax keeps BatchNorm's batch_stats in float32 whatever its param_dtype (``force_float32_reductions``,
on by default), and so does the flax dialect. Keras and Flax always keep BatchNorm's running
statistics, so those dialects refuse ``track_running_stats: false``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from ..core.dialects import DIALECTS
from ..core.errors import InitError
from .fields import Dim, Name, TensorDtype
from .schemes import SchemeSpec, scheme_params

__all__ = [
    "BIAS_INIT",
    "BatchNormLayer",
    "ConvLayer",
    "DIALECTS",
    "DTYPE",
    "Dialect",
    "EmbeddingLayer",
    "FRAMEWORK",
    "Framework",
    "LayerNormLayer",
    "LayerSpec",
    "LinearLayer",
    "Planned",
    "WEIGHT_INIT",
    "expand",
    "framework_of",
    "tree_clash",
]

Framework = Literal["torch", "keras", "flax"]
Dialect = Literal[DIALECTS]  # type: ignore[valid-type]  # the core's table
# The framework whose layer defaults each dialect speaks, and whose names its tensors get.
_FRAMEWORK_OF: dict[str, Framework] = {
    "initw": "torch",
    "torch": "torch",
    "keras": "keras",
    "jax": "flax",
    "flax": "flax",
}
# The wire name of a layer's framework is "preset" (kept: requests are forever). Before dialects it
# defaulted to "torch", which is still what a request without a dialect (initw) gets.
FRAMEWORK: Any = Field(
    None,
    description="framework whose default init fills weights and biases not given explicitly (default: the "
    "request's dialect's: torch for initw and torch, keras for keras, flax for jax and flax)",
)
WEIGHT_INIT: Any = Field(None, description="scheme for the weight (default: the framework's)")
BIAS_INIT: Any = Field(None, description="scheme for the bias (default: the framework's)")
DTYPE: Any = Field(None, description="dtype of this layer's tensors (default: the request's)")


class _Layer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    dtype: TensorDtype | None = DTYPE


class LinearLayer(_Layer):
    """A fully connected layer: weight [out, in] (torch) or [in, out] (keras/jax), bias [out]."""

    type: Literal["linear"]
    in_features: Dim
    out_features: Dim
    bias: StrictBool = True
    preset: Framework | None = FRAMEWORK
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
    preset: Framework | None = FRAMEWORK
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
    preset: Framework | None = FRAMEWORK
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
    # The words ``scheme`` and ``params`` are in: None for the request's (a layer's weight_init or
    # bias_init, as the user wrote it, to be read in the request's dialect), "initw" for initw's own
    # (a framework default this module chose: already its exact meaning, in any dialect).
    vocabulary: str | None = None


# Each role of a layer's tensors as each framework names it ("{}" is the layer's name). Norm layers'
# "scale" and "shift" are torch's weight and bias, Keras's gamma and beta, Flax's scale and bias.
_NAMES: dict[str, dict[str, str]] = {
    "torch": {
        "weight": "{}.weight",
        "bias": "{}.bias",
        "embedding": "{}.weight",
        "scale": "{}.weight",
        "shift": "{}.bias",
        "mean": "{}.running_mean",
        "var": "{}.running_var",
        "count": "{}.num_batches_tracked",
    },
    "keras": {  # keras.layers.Dense/Conv*: kernel, bias; Embedding: embeddings; norms: gamma, beta
        "weight": "{}/kernel",
        "bias": "{}/bias",
        "embedding": "{}/embeddings",
        "scale": "{}/gamma",
        "shift": "{}/beta",
        "mean": "{}/moving_mean",
        "var": "{}/moving_variance",
    },
    "flax": {  # flax.linen: collection/module/variable
        "weight": "params/{}/kernel",
        "bias": "params/{}/bias",
        "embedding": "params/{}/embedding",
        "scale": "params/{}/scale",
        "shift": "params/{}/bias",
        "mean": "batch_stats/{}/mean",
        "var": "batch_stats/{}/var",
    },
}
_FLAX_STATS_DTYPE = "float32"  # flax.linen.BatchNorm(force_float32_reductions=True), its default
_DIALECT_LAYOUTS = ("jax", "keras")  # [*k, in, out]: what Keras and Flax kernels are


def framework_of(dialect: str) -> Framework:
    """The framework whose names and layer defaults ``dialect`` speaks (InitError if unknown)."""
    try:
        return _FRAMEWORK_OF[dialect]
    except KeyError:
        raise InitError(f"unknown dialect {dialect!r}", param="dialect", allowed=", ".join(DIALECTS)) from None


def tree_clash(names: Iterable[str]) -> tuple[str, str] | None:
    """(leaf, other) where tensor ``leaf``'s name is a "/"-scope of ``other``'s (``params/fc/kernel``
    and ``params/fc/kernel/bias``), so the names do not unflatten into one tree; None if they do."""
    every = set(names)
    for name in sorted(every):
        parts = name.split("/")
        for end in range(1, len(parts)):
            scope = "/".join(parts[:end])
            if scope in every:
                return scope, name
    return None


def _given(spec: Any) -> tuple[str, dict[str, Any]] | None:
    return None if spec is None else scheme_params(spec)


def _framework_weight(framework: str) -> tuple[str, dict[str, Any]]:
    return {
        "torch": ("kaiming_uniform", {"a": math.sqrt(5)}),
        "keras": ("xavier_uniform", {}),  # glorot_uniform
        "flax": ("lecun_normal", {}),  # truncated, as flax.linen's default_kernel_init
    }[framework]


def _framework_bias(framework: str, fan_in: int) -> tuple[str, dict[str, Any]]:
    if framework == "torch":
        bound = 1 / math.sqrt(fan_in)  # torch: bound = 1 / math.sqrt(fan_in); uniform_(bias, -bound, bound)
        return "uniform", {"a": -bound, "b": bound}
    return "zeros", {}


@dataclass(frozen=True)
class _Expansion:
    """How one layer expands in one dialect: its framework defaults and its tensors' names."""

    layer: Any
    names: str  # the framework whose names the tensors get
    framework: str  # the framework whose defaults fill what the layer leaves out

    def name(self, role: str) -> str:
        return _NAMES[self.names][role].format(self.layer.name)


def _default(
    name: str,
    shape: tuple[int, ...],
    scheme: str,
    params: dict[str, Any],
    dtype: str | None,
    fan_in: int | None = None,
    fan_out: int | None = None,
    source: str = "",
) -> Planned:
    """A tensor whose scheme this module chose: a framework default, in initw's own words."""
    return Planned(name, shape, scheme, params, dtype, fan_in, fan_out, source, vocabulary="initw")


def _dense(x: _Expansion, weight_shape: tuple[int, ...], fan_in: int, fan_out: int) -> list[Planned]:
    layer = x.layer
    given = _given(layer.weight_init)
    if given:
        out = [Planned(x.name("weight"), weight_shape, *given, layer.dtype, source="weight_init")]
    else:
        scheme, params = _framework_weight(x.framework)
        out = [_default(x.name("weight"), weight_shape, scheme, params, layer.dtype, source="weight_init")]
    if layer.bias:
        bias_out = layer.out_features if isinstance(layer, LinearLayer) else layer.out_channels
        # A bias shares its layer's fans, so fan-based schemes work on the 1-D tensor.
        given = _given(layer.bias_init)
        if given:
            out.append(Planned(x.name("bias"), (bias_out,), *given, layer.dtype, fan_in, fan_out, "bias_init"))
        else:
            scheme, params = _framework_bias(x.framework, fan_in)
            out.append(_default(x.name("bias"), (bias_out,), scheme, params, layer.dtype, fan_in, fan_out, "bias_init"))
    return out


def _embedding(x: _Expansion) -> list[Planned]:
    layer = x.layer
    name, shape = x.name("embedding"), (layer.num_embeddings, layer.embedding_dim)
    given = _given(layer.weight_init)
    if given:
        return [Planned(name, shape, *given, layer.dtype, source="weight_init")]  # the user's words
    if x.framework == "torch":
        return [_default(name, shape, "normal", {}, layer.dtype)]
    if x.framework == "keras":
        return [_default(name, shape, "uniform", {"a": -0.05, "b": 0.05}, layer.dtype)]
    # flax.linen.Embed: variance_scaling(1.0, "fan_in", "normal", out_axis=0) of [vocab, features],
    # whose fan_in is features.
    params = {"scale": 1.0, "mode": "fan_in", "distribution": "normal"}
    return [_default(name, shape, "variance_scaling", params, layer.dtype, fan_in=layer.embedding_dim)]


def _batchnorm(x: _Expansion) -> list[Planned]:
    layer, n, out = x.layer, (x.layer.num_features,), []
    if not layer.track_running_stats and x.names != "torch":
        what = "Keras's BatchNormalization" if x.names == "keras" else "Flax's BatchNorm"
        raise InitError(
            f"{what} always keeps its running statistics; track_running_stats=false has no {x.names} equivalent",
            param="track_running_stats",
            allowed="true in the keras, jax and flax dialects",
        )
    if layer.affine:
        out += [
            _default(x.name("scale"), n, "ones", {}, layer.dtype),
            _default(x.name("shift"), n, "zeros", {}, layer.dtype),
        ]
    if layer.track_running_stats:
        stats = _FLAX_STATS_DTYPE if x.names == "flax" else layer.dtype
        out += [
            _default(x.name("mean"), n, "zeros", {}, stats),
            _default(x.name("var"), n, "ones", {}, stats),
        ]
        if x.names == "torch":
            out.append(_default(x.name("count"), (), "zeros", {}, "int64"))
    return out


def _layernorm(x: _Expansion) -> list[Planned]:
    layer = x.layer
    shape = (layer.normalized_shape,) if isinstance(layer.normalized_shape, int) else tuple(layer.normalized_shape)
    out = []
    if layer.elementwise_affine:
        out.append(_default(x.name("scale"), shape, "ones", {}, layer.dtype))
        if layer.bias:
            out.append(_default(x.name("shift"), shape, "zeros", {}, layer.dtype))
    return out


def _check_dialect(layer: BaseModel, layout: str, dialect: str) -> None:
    """A keras/jax layout, and a name whose "/"-separated scopes are all non-empty."""
    if layout not in _DIALECT_LAYOUTS:
        raise InitError(
            f"the {dialect} dialect names {'Keras' if dialect == 'keras' else 'Flax'} variables, whose kernels are "
            f'[*k, in, out]: it needs "layout": "jax" or "keras", not {layout!r}',
            param="layout",
            allowed=", ".join(_DIALECT_LAYOUTS),
        )
    name: str = getattr(layer, "name", "")
    if "" in name.split("/"):
        raise InitError(
            f'layer name {name!r}: in the {dialect} dialect a "/" separates scopes, so no scope may be empty',
            param="name",
            allowed='names without "//" and without a trailing "/"',
        )


def expand(layer: BaseModel, layout: str, dialect: str = "initw") -> list[Planned]:
    """The tensors of ``layer`` in ``layout``, named as ``dialect`` names them.

    InitError, whose ``param`` is ``"layout"`` (the request's field) or a field of the layer
    (``"name"``, ``"track_running_stats"``), where the dialect cannot express the layer."""
    framework = framework_of(dialect)
    expansion = _Expansion(layer, framework, getattr(layer, "preset", None) or framework)
    if framework != "torch" and isinstance(layer, _Layer):
        _check_dialect(layer, layout, dialect)
    torch = layout == "torch"
    if isinstance(layer, LinearLayer):
        i, o = layer.in_features, layer.out_features
        return _dense(expansion, (o, i) if torch else (i, o), i, o)
    if isinstance(layer, ConvLayer):
        axes = int(layer.type[-2])
        k = [layer.kernel_size] * axes if isinstance(layer.kernel_size, int) else list(layer.kernel_size)
        per_group = layer.in_channels // layer.groups
        shape = (layer.out_channels, per_group, *k) if torch else (*k, per_group, layer.out_channels)
        receptive = math.prod(k)
        return _dense(expansion, tuple(shape), per_group * receptive, layer.out_channels * receptive)
    if isinstance(layer, EmbeddingLayer):
        return _embedding(expansion)
    if isinstance(layer, BatchNormLayer):
        return _batchnorm(expansion)
    if isinstance(layer, LayerNormLayer):
        return _layernorm(expansion)
    raise TypeError(f"unknown layer {type(layer).__name__}")
