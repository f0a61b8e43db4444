"""Architectures: a whole named state dict with each family's per-layer rules, each from its paper.

    gpt2       GPT-2 (Radford et al. 2019, section 2.3: residual-layer weights scaled by 1/sqrt(N),
               N residual layers) as nanoGPT's GPT._init_weights writes it: every Linear and
               Embedding N(0, 0.02^2), biases 0, LayerNorm 1/0; the residual projections
               (attn.c_proj, mlp.c_proj) N(0, (0.02/sqrt(2 L))^2), 2 L = N. lm_head is tied to wte and
               not stored (load with strict=False or tie it).
    mup_mlp_v2 muP (Yang & Hu 2021, arXiv:2011.14522; Yang et al. 2022, arXiv:2203.03466, Table 3) in
               the multiplier form of the mup package: weights N(0, 1/fan_in), readout zero or
               N(0, 1/base_width) read through a forward multiplier base_width / fan_in; the metadata
               gives every tensor's forward and Adam learning-rate multipliers (see mup_mlp below).
               mup_mlp (v1) is withdrawn: it mixed two parametrizations.
    fixup_mlp  Fixup (Zhang, Dauphin & Ma 2019, arXiv:1901.09321, section 3, rules 1-3) for
               x + W2 relu(W1 x) blocks: W1 He-normal times L^(-1/(2m-2)) = L^(-1/2) (m = 2 layers
               per branch), W2 = 0, head 0, scalar biases 0 and scales 1.
    zero_mlp   ZerO (Zhao, Schafer & Anandkumar 2022, arXiv:2110.12661, Algorithm 1): every weight
               hadamard_identity (docs/SCHEMES.md), biases 0.

Weights are [out, in] (torch layout) and named like PyTorch state dicts.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator

from .fields import Dim, strict_float, strict_int
from .layers import Planned

__all__ = [
    "ArchitectureSpec",
    "FixupMlp",
    "Gpt2",
    "WITHDRAWN_MUP",
    "MupMlp",
    "WithdrawnMupMlp",
    "ZerOMlp",
    "expand_architecture",
    "fixup_mlp",
    "gpt2",
    "mup_mlp",
    "zero_mlp",
]


class _Architecture(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Gpt2(_Architecture):
    """GPT-2 / nanoGPT, scaled residual projections."""

    preset: Literal["gpt2"]
    n_layer: Annotated[int, Field(ge=1, le=128), BeforeValidator(strict_int)] = 12
    n_embd: Dim = 768
    vocab_size: Dim = 50257
    block_size: Dim = 1024
    std: Annotated[float, Field(gt=0, le=1), BeforeValidator(strict_float)] = 0.02
    bias: StrictBool = True


class MupMlp(_Architecture):
    """An MLP in muP, as the mup package parametrizes it: widths [input, hidden..., output]."""

    preset: Literal["mup_mlp_v2"]
    widths: list[Dim] = Field(min_length=3, max_length=64, description="[input, hidden..., output]: one hidden or more")
    base_width: Dim = Field(description="the hidden width the hyperparameters were tuned at")
    readout_zero: StrictBool = Field(
        True, description="readout weight 0; otherwise N(0, 1/base_width), read through the forward multiplier"
    )


WITHDRAWN_MUP = (
    "mup_mlp is withdrawn: its metadata scaled the readout twice (a forward multiplier 1/width_mult and an Adam "
    "learning rate 1/width_mult, two parametrizations mixed), and with readout_zero false its readout was also "
    "drawn with variance 1/fan_in^2; use mup_mlp_v2, the mup package's multiplier form with per-tensor multipliers"
)


class WithdrawnMupMlp(_Architecture):
    """mup_mlp (v1): refused, saying why, so no file made from it changes under its name."""

    model_config = ConfigDict(extra="allow")
    preset: Literal["mup_mlp"]

    @model_validator(mode="after")
    def _withdrawn(self) -> WithdrawnMupMlp:
        raise ValueError(WITHDRAWN_MUP)


class FixupMlp(_Architecture):
    """A residual MLP: stem, blocks x + W2 relu(W1 x), head."""

    preset: Literal["fixup_mlp"]
    input_width: Dim
    width: Dim
    blocks: Annotated[int, Field(ge=1, le=1000), BeforeValidator(strict_int)]
    output_width: Dim


class ZerOMlp(_Architecture):
    """An MLP initialized with ZerO: widths [input, hidden..., output]."""

    preset: Literal["zero_mlp"]
    widths: list[Dim] = Field(min_length=2, max_length=64)


# On the wire an architecture is named by "preset" (as in {"model": {"preset": "gpt2"}}): requests and
# the files made from them are forever, so the name stays; in code it is an architecture.
ArchitectureSpec = Annotated[
    Union[Gpt2, MupMlp, WithdrawnMupMlp, FixupMlp, ZerOMlp], Field(discriminator="preset")  # noqa: UP007
]


def _normal(name: str, shape: tuple[int, ...], std: float) -> Planned:
    return Planned(name, shape, "normal", {"std": std}, source="model", layout="torch")


def _fill(name: str, shape: tuple[int, ...], value: str) -> Planned:
    return Planned(name, shape, value, {}, source="model", layout="torch")


def gpt2(spec: Gpt2) -> tuple[list[Planned], dict[str, Any]]:
    d, std = spec.n_embd, spec.std
    projection = std / math.sqrt(2 * spec.n_layer)  # nanoGPT: 0.02 / math.sqrt(2 * config.n_layer)
    out = [
        _normal("transformer.wte.weight", (spec.vocab_size, d), std),
        _normal("transformer.wpe.weight", (spec.block_size, d), std),
    ]
    for i in range(spec.n_layer):
        h = f"transformer.h.{i}"
        out.append(_fill(f"{h}.ln_1.weight", (d,), "ones"))
        if spec.bias:
            out.append(_fill(f"{h}.ln_1.bias", (d,), "zeros"))
        for name, shape, scale in (
            ("attn.c_attn", (3 * d, d), std),
            ("attn.c_proj", (d, d), projection),
            ("mlp.c_fc", (4 * d, d), std),
            ("mlp.c_proj", (d, 4 * d), projection),
        ):
            out.append(_normal(f"{h}.{name}.weight", shape, scale))
            if spec.bias:
                out.append(_fill(f"{h}.{name}.bias", (shape[0],), "zeros"))
        out.append(_fill(f"{h}.ln_2.weight", (d,), "ones"))
        if spec.bias:
            out.append(_fill(f"{h}.ln_2.bias", (d,), "zeros"))
    out.append(_fill("transformer.ln_f.weight", (d,), "ones"))
    if spec.bias:
        out.append(_fill("transformer.ln_f.bias", (d,), "zeros"))
    notes = {
        "preset": "gpt2",
        "residual_projection_std": projection,
        "tied": {"lm_head.weight": "transformer.wte.weight"},
    }
    return out, notes


def mup_mlp(spec: MupMlp) -> tuple[list[Planned], dict[str, Any]]:
    """muP in the multiplier form of the mup package (microsoft/mup 1.0: MuReadout, MuAdam,
    set_base_shapes with rescale_params), base shapes with every hidden width at ``base_width``.

    Every weight [fan_out, fan_in] is drawn as in standard parametrization, N(0, 1/fan_in); the
    readout is zero, or that draw times sqrt(width_mult) = N(0, 1/base_width), and the forward
    pass multiplies its input by 1/width_mult (width_mult = fan_in / base_width). MuAdam divides
    the learning rate of matrix-like weights (hidden: both sides grow with width) by their fan_in
    multiplier, and leaves the vector-like ones alone (input weights: fan_in fixed; readout:
    fan_out fixed; biases). The effective readout, multiplier x weight, thus has variance
    base_width / fan_in^2 and an Adam step proportional to 1/fan_in: the muP column of Tensor
    Programs V, Table 3 (output init 1/fan_in^2, output and hidden Adam LR 1/fan_in, input and
    biases 1).
    """
    out = []
    tensors: dict[str, dict[str, Any]] = {}
    last = len(spec.widths) - 2
    for i, (fan_in, fan_out) in enumerate(zip(spec.widths, spec.widths[1:], strict=False)):
        name, role = f"layers.{i}.weight", ("input" if i == 0 else "readout" if i == last else "hidden")
        width_mult = fan_in / spec.base_width
        if role == "readout" and spec.readout_zero:
            out.append(_fill(name, (fan_out, fan_in), "zeros"))
        elif role == "readout":
            out.append(_normal(name, (fan_out, fan_in), 1.0 / math.sqrt(spec.base_width)))
        else:
            out.append(_normal(name, (fan_out, fan_in), 1.0 / math.sqrt(fan_in)))
        tensors[name] = {
            "role": role,
            "forward_multiplier": 1.0 / width_mult if role == "readout" else 1.0,
            "adam_lr_multiplier": 1.0 / width_mult if role == "hidden" else 1.0,
        }
        out.append(_fill(f"layers.{i}.bias", (fan_out,), "zeros"))
        tensors[f"layers.{i}.bias"] = {"role": "bias", "forward_multiplier": 1.0, "adam_lr_multiplier": 1.0}
    notes = {
        "preset": "mup_mlp_v2",
        "parametrization": "muP, multiplier form of the mup package (MuReadout, MuAdam; Yang et al. 2022, "
        "arXiv:2203.03466, Table 3); base shapes: every hidden width at base_width",
        "width_mult": spec.widths[-2] / spec.base_width,
        "tensors": tensors,
    }
    return out, notes


def fixup_mlp(spec: FixupMlp) -> tuple[list[Planned], dict[str, Any]]:
    w, blocks = spec.width, spec.blocks
    branch_scale = blocks ** (-0.5)  # L^(-1 / (2m - 2)) with m = 2 layers per branch
    he = math.sqrt(2.0 / w)
    out = [
        _normal("stem.weight", (w, spec.input_width), math.sqrt(2.0 / spec.input_width)),
        _fill("stem.bias", (w,), "zeros"),
    ]
    for i in range(blocks):
        b = f"blocks.{i}"
        out += [
            _fill(f"{b}.bias1a", (1,), "zeros"),
            _normal(f"{b}.fc1.weight", (w, w), he * branch_scale),
            _fill(f"{b}.bias1b", (1,), "zeros"),
            _fill(f"{b}.bias2a", (1,), "zeros"),
            _fill(f"{b}.fc2.weight", (w, w), "zeros"),
            _fill(f"{b}.scale", (1,), "ones"),
            _fill(f"{b}.bias2b", (1,), "zeros"),
        ]
    out += [_fill("head.weight", (spec.output_width, w), "zeros"), _fill("head.bias", (spec.output_width,), "zeros")]
    return out, {"preset": "fixup_mlp", "branch_scale": branch_scale}


def zero_mlp(spec: ZerOMlp) -> tuple[list[Planned], dict[str, Any]]:
    out = []
    for i, (fan_in, fan_out) in enumerate(zip(spec.widths, spec.widths[1:], strict=False)):
        out.append(
            Planned(f"layers.{i}.weight", (fan_out, fan_in), "hadamard_identity", {}, source="model", layout="torch")
        )
        out.append(_fill(f"layers.{i}.bias", (fan_out,), "zeros"))
    return out, {"preset": "zero_mlp"}


def expand_architecture(spec: BaseModel) -> tuple[list[Planned], dict[str, Any]]:
    """The tensors of an architecture, and notes for the metadata."""
    if isinstance(spec, Gpt2):
        return gpt2(spec)
    if isinstance(spec, MupMlp):
        return mup_mlp(spec)
    if isinstance(spec, FixupMlp):
        return fixup_mlp(spec)
    if isinstance(spec, ZerOMlp):
        return zero_mlp(spec)
    raise TypeError(f"unknown architecture {type(spec).__name__}")
