"""The body of POST /init and POST /diagnostics, and its translation into a core Request.

Three ways to name tensors, combinable: ``tensors`` (explicit), ``layers`` (expanded by
spec.layers), and the one-tensor shorthand (``shape`` + ``scheme`` at the top level, tensor name
``weight`` unless ``name`` is given). Validation happens here, once; the result is a frozen core
Request whose canonical form is what the bytes depend on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..core import dialects
from ..core.artifact import HEADERS, Request
from ..core.errors import InitError
from ..core.generate import TensorSpec
from ..core.read import Stored, from_base64, read
from .architectures import ArchitectureSpec, expand_architecture
from .fields import Fan, Layout, Name, Seed, Shape, TensorDtype
from .layers import LayerSpec, Planned, expand, tree_clash
from .schemes import SchemeSpec, scheme_params

__all__ = ["Dialect", "Header", "InitRequest", "Origin", "TensorFields", "TensorRequest", "to_request"]

Header = Literal[HEADERS]  # type: ignore[valid-type]  # the values come from the core's table
Dialect = Literal[dialects.DIALECTS]  # type: ignore[valid-type]  # the same
DIALECT_HELP = (
    "the framework whose vocabulary the request's scheme names speak: unqualified names mean that "
    "framework's initializer with its defaults (keras: 'HeNormal' or 'he_normal' is keras.HeNormal), and the "
    "layout defaults to its own (keras: keras; jax, flax: jax; torch: torch); layers get its parameter names "
    "(flax: params/<layer>/kernel ...). initw (today's catalogue, PyTorch's meanings) without warnings; "
    "absent: initw, with a warning where a keras/jax layout meets a name that framework reads otherwise"
)


def _qualified(value: Any, dialect: str) -> Any:
    """A scheme field's value with its name qualified by the request's dialect."""
    if isinstance(value, str):
        return dialects.qualify(value, dialect)
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return {**value, "name": dialects.qualify(value["name"], dialect)}
    return value


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
    dtype: TensorDtype | None = Field(None, description="dtype of this tensor (default: the request's)")
    fan_in: Fan | None = None
    fan_out: Fan | None = None
    header: Header | None = Field(None, description=HEADER_HELP + " (default: the request's)")


class TensorRequest(TensorFields):
    """One tensor: name, shape, scheme, and optionally its own dtype and fan overrides."""

    name: Name
    shape: Shape
    scheme: SchemeSpec


# The ways a body names its tensors, as _one_way_or_more checks them: the shorthand (shape and
# scheme), or no shorthand field and at least one tensor, layer or model. Written as if/then/else,
# which validators and test generators read and client generators leave aside.
_SHORTHAND = ("name", "scheme", "fan_in", "fan_out")
WAYS: dict[str, Any] = {
    "if": {"required": ["shape"], "properties": {"shape": {"type": "array"}}},
    "then": {"required": ["scheme"], "properties": {"scheme": {"type": ["string", "object"]}}},
    "else": {
        "properties": {key: {"type": "null"} for key in _SHORTHAND},
        "anyOf": [
            {"required": [way], "properties": {way: kind}}
            for way, kind in (("tensors", {"minItems": 1}), ("layers", {"minItems": 1}), ("model", {"type": "object"}))
        ],
    },
}


class InitRequest(TensorFields):
    """Tensors to initialize from a seed. The same body gives the same bytes, forever."""

    # The fields of TensorFields at the top level are the one-tensor shorthand: ``shape`` and
    # ``scheme`` make one tensor, named ``name`` (default ``weight``).

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            **WAYS,
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
    dtype: TensorDtype = Field("float32", description="default dtype of every tensor")  # type: ignore[assignment]  # the request's default, never None
    dialect: Dialect | None = Field(None, description=DIALECT_HELP)
    layout: Layout = Field(
        "torch",
        description="torch [out, in, *k] or keras/jax [*k, in, out]: decides fans and layer shapes "
        "(default: torch, or the dialect's own)",
    )
    header: Header = Field("full", description=HEADER_HELP + "; the default of every tensor")  # type: ignore[assignment]  # the request's default, never None
    tensors: list[TensorRequest] = Field(default_factory=list, max_length=4096)
    layers: list[LayerSpec] = Field(default_factory=list, max_length=4096)
    model: ArchitectureSpec | None = Field(
        None,
        description="an architecture preset (gpt2, mup_mlp_v2, fixup_mlp, zero_mlp) expanded into a named state dict; "
        "its fields: GET /presets/{name}, docs/PRESETS.md",
    )
    pretrained: str | None = Field(
        None,
        description="transfer: base64 of a safetensors file; requested tensors with the same name and shape keep "
        "its bytes (and dtype), the others are initialized; the answer reports which",
    )

    @model_validator(mode="before")
    @classmethod
    def _speak_dialect(cls, data: Any) -> Any:
        """Qualify every scheme name by the request's dialect, before the names are validated."""
        if not isinstance(data, dict) or not isinstance(data.get("dialect"), str):
            return data
        dialect = data["dialect"]
        if dialect not in dialects.DIALECTS:
            return data  # the field's own validation says what is allowed
        out = dict(data)
        if "scheme" in out:
            out["scheme"] = _qualified(out["scheme"], dialect)
        for key, fields in (("tensors", ("scheme",)), ("layers", ("weight_init", "bias_init"))):
            if isinstance(out.get(key), list):
                out[key] = [
                    {**item, **{f: _qualified(item[f], dialect) for f in fields if f in item}}
                    if isinstance(item, dict)
                    else item
                    for item in out[key]
                ]
        if "layout" not in out:
            out["layout"] = dialects.FRAMEWORK_LAYOUT[dialect]
        return out

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


def _spec(planned: Planned, body: InitRequest) -> tuple[TensorSpec, str | None]:
    """The tensor's core spec (a dialect word translated into initw's terms), and a warning where
    its unqualified name means something else in the framework of its keras/jax layout."""
    layout = planned.layout or body.layout
    scheme, params, fan_in, fan_out = planned.scheme, planned.params, planned.fan_in, planned.fan_out
    warning = None
    if dialects.lookup(scheme) is not None:
        try:
            meaning = dialects.translate(scheme, params, planned.shape, fan_in, fan_out)
        except InitError as error:
            raise error.at("scheme") from None
        scheme, params, layout = meaning.scheme, meaning.params, meaning.layout
        fan_in, fan_out = meaning.fan_in, meaning.fan_out
    elif body.dialect is None and planned.vocabulary is None:  # the user's words, not a framework default
        warning = dialects.differs(scheme, params, planned.shape, layout, fan_in, fan_out)
    spec = TensorSpec(
        name=planned.name,
        shape=planned.shape,
        scheme=scheme,
        params=params,
        dtype=planned.dtype or body.dtype,
        layout=layout,
        fan_in=fan_in,
        fan_out=fan_out,
    )
    return spec, warning


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
        try:
            expanded = expand(layer, body.layout, body.dialect or "initw")
        except InitError as error:  # the request's layout or dialect, else a field of the layer
            raise (error if error.param in ("layout", "dialect") else error.at(f"layers.{i}")) from None
        for tensor in expanded:
            planned.append((tensor, Origin(f"layers.{i}", tensor.source or "scheme")))
    notes = None
    if body.model is not None:
        expanded, notes = expand_architecture(body.model)
        planned += [(tensor, Origin("model", "model")) for tensor in expanded]
    seen: dict[str, str] = {}
    specs = []
    warnings: list[str] = []
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
        try:
            spec, warning = _spec(tensor, body)
            _ = spec.plan
        except InitError as error:
            raise InitError(str(error), param=origin.path(error.param), allowed=error.allowed) from None
        specs.append(spec)
        if warning is not None:
            warnings.append(f"{origin.path('scheme')}: {warning}")
        choice = _header(origin, body)
        if choice != "full":
            header[spec.name] = choice
    clash = tree_clash(seen) if body.dialect in ("jax", "flax") else None
    if clash is not None:
        leaf, other = clash
        raise InitError(
            f"tensor {leaf!r} is also the scope of {other!r}: the names do not unflatten into one Flax tree",
            param=seen[other],
            allowed="names where no tensor's name is a '/'-scope of another's",
        )
    if uploaded is None:
        return Request(body.seed, tuple(specs), notes=notes, header=header, warnings=tuple(warnings))
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
    return Request(body.seed, tuple(specs), kept, transfer, notes, header, tuple(warnings))


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
