"""The body of POST /init and POST /diagnostics, and its translation into a core Request.

Three ways to name tensors, combinable: ``tensors`` (explicit), ``layers`` (expanded by
spec.layers), and the one-tensor shorthand (``shape`` + ``scheme`` at the top level, tensor name
``weight`` unless ``name`` is given). Validation happens here, once; the result is a frozen core
Request whose canonical form is what the bytes depend on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..core.artifact import HEADERS, Request
from ..core.errors import InitError
from ..core.generate import TensorSpec
from ..core.read import Stored, from_base64, read
from .architectures import ArchitectureSpec, expand_architecture
from .fields import Dtype, Fan, Layout, Name, Seed, Shape
from .layers import LayerSpec, Planned, expand
from .schemes import SchemeSpec, scheme_params

__all__ = ["Header", "InitRequest", "Origin", "TensorFields", "TensorRequest", "to_request"]

Header = Literal[HEADERS]  # type: ignore[valid-type]  # the values come from the core's table
HEADER_HELP = (
    "the file header's diagnostics of this tensor: full (moments, KS test, row and structure checks) or moments "
    "(one pass: moments, extremes and their verdicts; for fast small requests, a different file, as reproducible)"
)


class TensorFields(BaseModel):
    """The fields of one tensor: the one table of them. An entry of ``tensors`` is made of these
    fields, the one-tensor shorthand puts them at the top level of a body, and GET /init's query
    parameters and the CLI's flags (service.spec.text) are made from them. Adding a field here adds
    it to all four."""

    # A field's type carries its description (service.spec.fields) unless it says more here.
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    shape: Shape | None = None
    scheme: SchemeSpec | None = None
    dtype: Dtype | None = Field(None, description="dtype of this tensor (default: the request's)")
    fan_in: Fan | None = None
    fan_out: Fan | None = None
    header: Header | None = Field(None, description=HEADER_HELP + " (default: the request's)")


class TensorRequest(TensorFields):
    """One tensor: name, shape, scheme, and optionally its own dtype and fan overrides."""

    name: Name
    shape: Shape
    scheme: SchemeSpec


class InitRequest(TensorFields):
    """Tensors to initialize from a seed. The same body gives the same bytes, forever."""

    # The fields of TensorFields at the top level are the one-tensor shorthand: ``shape`` and
    # ``scheme`` make one tensor, named ``name`` (default ``weight``).

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"seed": 0, "shape": [256, 784], "scheme": "xavier_uniform"},
                {
                    "seed": 42,
                    "dtype": "bfloat16",
                    "tensors": [
                        {"name": "fc.weight", "shape": [256, 784],
                         "scheme": {"name": "kaiming_normal", "mode": "fan_out", "nonlinearity": "relu"}},
                        {"name": "fc.bias", "shape": [256], "scheme": "zeros"},
                    ],
                },
                {"seed": 7, "layers": [{"type": "linear", "name": "fc1", "in_features": 784, "out_features": 256}]},
            ]
        },
    )  # fmt: skip
    seed: Seed = 0
    dtype: Dtype = Field("float32", description="default dtype of every tensor")  # type: ignore[assignment]  # the request's default, never None
    layout: Layout = Field(
        "torch", description="torch [out, in, *k] or keras/jax [*k, in, out]: decides fans and layer shapes"
    )
    header: Header = Field("full", description=HEADER_HELP + "; the default of every tensor")  # type: ignore[assignment]  # the request's default, never None
    tensors: list[TensorRequest] = Field(default_factory=list, max_length=4096)
    layers: list[LayerSpec] = Field(default_factory=list, max_length=4096)
    model: ArchitectureSpec | None = Field(
        None, description="an architecture preset (gpt2, mup_mlp, fixup_mlp, zero_mlp) expanded into a named state dict"
    )
    pretrained: str | None = Field(
        None,
        description="transfer: base64 of a safetensors file; requested tensors with the same name and shape keep "
        "its bytes (and dtype), the others are initialized; the answer reports which",
    )

    @model_validator(mode="after")
    def _one_way_or_more(self) -> InitRequest:
        shorthand = {key: getattr(self, key) for key in ("name", "scheme", "fan_in", "fan_out")}
        if self.shape is None:
            stray = [key for key, value in shorthand.items() if value is not None]
            if stray:
                raise ValueError(f"{stray[0]} belongs to the one-tensor shorthand, which needs 'shape' too")
            if not self.tensors and not self.layers and self.model is None:
                raise ValueError("nothing to initialize: give 'tensors', 'layers', 'model', or 'shape' and 'scheme'")
        elif self.scheme is None:
            raise ValueError("the one-tensor shorthand needs 'scheme' next to 'shape'")
        return self


@dataclass(frozen=True)
class Origin:
    """Where a tensor came from in the body, to name the right field in errors."""

    prefix: str  # "", "tensors.3" or "layers.1"
    scheme_field: str = "scheme"  # the field holding its scheme, relative to the prefix

    def path(self, param: str | None) -> str:
        if param is None or self.prefix == "model":
            return self.prefix or "body"  # a preset's tensors come from the model's fields together
        if param.startswith("scheme"):
            param = self.scheme_field + param[len("scheme") :]
        elif self.prefix.startswith("layers."):
            param = ""  # shape, fans and dtype of a layer's tensors come from the layer itself
        return ".".join(part for part in (self.prefix, param) if part)


def _spec(planned: Planned, body: InitRequest) -> TensorSpec:
    return TensorSpec(
        name=planned.name,
        shape=planned.shape,
        scheme=planned.scheme,
        params=planned.params,
        dtype=planned.dtype or body.dtype,
        layout=planned.layout or body.layout,
        fan_in=planned.fan_in,
        fan_out=planned.fan_out,
    )


def to_request(body: InitRequest) -> Request:
    """The core Request of a validated body; InitError (with the body's field path) if the core
    refuses a tensor, for example a fan-based scheme on a 1-D shape or a >= b."""
    planned: list[tuple[Planned, Origin]] = []
    if body.shape is not None:
        assert body.scheme is not None  # InitRequest's validator: the shorthand has both or neither
        name, params = scheme_params(body.scheme)
        tensor = Planned(body.name or "weight", tuple(body.shape), name, params, None, body.fan_in, body.fan_out)
        planned.append((tensor, Origin("")))
    for i, t in enumerate(body.tensors):
        name, params = scheme_params(t.scheme)
        planned.append(
            (Planned(t.name, tuple(t.shape), name, params, t.dtype, t.fan_in, t.fan_out), Origin(f"tensors.{i}"))
        )
    for i, layer in enumerate(body.layers):
        for tensor in expand(layer, body.layout):
            planned.append((tensor, Origin(f"layers.{i}", tensor.source or "scheme")))
    notes = None
    if body.model is not None:
        expanded, notes = expand_architecture(body.model)
        planned += [(tensor, Origin("model", "model")) for tensor in expanded]
    seen: dict[str, str] = {}
    specs = []
    uploaded = _pretrained(body)
    header: dict[str, str] = {}  # the tensors whose header summary is not "full"
    for tensor, origin in planned:
        where = origin.path("name") if not origin.prefix.startswith("layers.") else origin.prefix + ".name"
        if tensor.name in seen:
            raise InitError(
                f"tensor name {tensor.name!r} is used twice (also by {seen[tensor.name]})",
                param=where,
                allowed="unique names",
            )
        seen[tensor.name] = where
        spec = _spec(tensor, body)
        try:
            _ = spec.plan
        except InitError as error:
            raise InitError(str(error), param=origin.path(error.param), allowed=error.allowed) from None
        specs.append(spec)
        choice = _header(origin, body)
        if choice != "full":
            header[spec.name] = choice
    if uploaded is None:
        return Request(body.seed, tuple(specs), notes=notes, header=header)
    kept = {s.name: uploaded[s.name] for s in specs if s.name in uploaded and uploaded[s.name].shape == s.shape}
    transfer = {
        "kept": [s.name for s in specs if s.name in kept],
        "initialized": [s.name for s in specs if s.name not in uploaded],
        "mismatched": [
            {"name": s.name, "file_shape": list(uploaded[s.name].shape), "shape": list(s.shape)}
            for s in specs
            if s.name in uploaded and s.name not in kept
        ],
        "ignored": sorted(set(uploaded) - {s.name for s in specs}),
    }
    return Request(body.seed, tuple(specs), kept, transfer, notes, header)


def _header(origin: Origin, body: InitRequest) -> str:
    """A tensor's header choice: its own (an entry of ``tensors``), else the request's."""
    if origin.prefix.startswith("tensors."):
        own = body.tensors[int(origin.prefix.removeprefix("tensors."))].header
        if own is not None:
            return own
    return body.header


def _pretrained(body: InitRequest) -> dict[str, Stored] | None:
    if body.pretrained is None:
        return None
    return read(from_base64(body.pretrained, "pretrained"), field="pretrained")[0]
