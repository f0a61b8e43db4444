"""Architectures: a whole named state dict with each family's per-layer rules, each from its paper.

    gpt2       GPT-2 (Radford et al. 2019, section 2.3) as nanoGPT's GPT._init_weights writes it
    mup_mlp_v2 muP (Yang et al. 2022, arXiv:2203.03466, Table 3) in the multiplier form of the mup
               package; mup_mlp (v1) is withdrawn: it mixed two parametrizations
    fixup_mlp  Fixup (Zhang, Dauphin & Ma 2019, arXiv:1901.09321, section 3, rules 1-3)
    zero_mlp   ZerO (Zhao, Schafer & Anandkumar 2022, arXiv:2110.12661, Algorithm 1)

Each model's docstring (a title line, then the rule with its paper), its fields' descriptions and its
example are the preset's documentation: service/spec/presets.py serves them (GET /presets) and
renders docs/PRESETS.md from them. Weights are [out, in] (torch layout) and named like PyTorch
state dicts.
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


def _example(body: dict[str, Any]) -> ConfigDict:
    """A model's config with an example ``model`` object (shown by GET /presets and in openapi.json)."""
    return ConfigDict(json_schema_extra={"examples": [body]})


class Gpt2(_Architecture):
    """GPT-2 / nanoGPT: a GPT-2 state dict with scaled residual projections.

    GPT-2 (Radford et al. 2019, section 2.3: residual-layer weights scaled by 1/sqrt(N), N residual
    layers) as nanoGPT's GPT._init_weights writes it: every Linear and Embedding weight N(0, std^2),
    every bias 0, LayerNorm weights 1 and biases 0; the residual projections (attn.c_proj,
    mlp.c_proj) N(0, (std / sqrt(2 n_layer))^2), 2 n_layer = N. lm_head is tied to
    transformer.wte.weight and not stored (load with strict=False, or tie it).
    """

    model_config = _example({"preset": "gpt2", "n_layer": 2, "n_embd": 64, "vocab_size": 256, "block_size": 64})
    preset: Literal["gpt2"]
    n_layer: Annotated[int, Field(ge=1, le=128), BeforeValidator(strict_int)] = Field(
        12, description="transformer blocks L (GPT-2 small: 12); the residual projections' std is std / sqrt(2 L)"
    )
    n_embd: Dim = Field(
        768, description="embedding width d: attn.c_attn is [3 d, d], mlp.c_fc [4 d, d], mlp.c_proj [d, 4 d]"
    )
    vocab_size: Dim = Field(50257, description="tokens: rows of transformer.wte.weight, to which lm_head is tied")
    block_size: Dim = Field(1024, description="context length: rows of transformer.wpe.weight")
    std: Annotated[float, Field(gt=0, le=1), BeforeValidator(strict_float)] = Field(
        0.02, description="standard deviation of every Linear and Embedding weight but the residual projections"
    )
    bias: StrictBool = Field(True, description="biases in the Linear layers and LayerNorms (false: none stored)")


class MupMlp(_Architecture):
    """An MLP in muP, as the mup package parametrizes it: widths [input, hidden..., output].

    muP (Yang & Hu 2021, arXiv:2011.14522; Yang et al. 2022, arXiv:2203.03466, Table 3) in the
    multiplier form of the mup package (MuReadout, MuAdam, base shapes with every hidden width at
    base_width): every weight layers.i.weight [out, in] N(0, 1/fan_in), every bias 0; the readout
    zero or N(0, 1/base_width), read through a forward multiplier base_width / fan_in. The file's
    metadata gives every tensor's forward and Adam learning-rate multipliers (hidden weights: Adam
    learning rate times base_width / fan_in). Replaces mup_mlp (v1), withdrawn.
    """

    model_config = _example({"preset": "mup_mlp_v2", "widths": [16, 64, 64, 10], "base_width": 32})
    preset: Literal["mup_mlp_v2"]
    widths: list[Dim] = Field(
        min_length=3,
        max_length=64,
        description="[input, hidden..., output], one hidden width or more: layers.i.weight is [widths[i+1], widths[i]]",
    )
    base_width: Dim = Field(description="the hidden width the hyperparameters were tuned at (width_mult = 1 there)")
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
    """A residual MLP in Fixup: stem, blocks x + W2 relu(W1 x), head.

    Fixup (Zhang, Dauphin & Ma 2019, arXiv:1901.09321, section 3, rules 1-3), without normalization:
    stem.weight He-normal N(0, 2/input_width); each block's fc1.weight He-normal N(0, 2/width) times
    L^(-1/(2m-2)) = L^(-1/2) (L blocks, m = 2 layers per branch); each fc2.weight 0 and head.weight 0;
    every bias and scalar bias (bias1a, bias1b, bias2a, bias2b) 0 and every scalar scale 1.
    """

    model_config = _example({"preset": "fixup_mlp", "input_width": 16, "width": 64, "blocks": 4, "output_width": 10})
    preset: Literal["fixup_mlp"]
    input_width: Dim = Field(description="input features: stem.weight is [width, input_width]")
    width: Dim = Field(description="width of the residual stream: every fc1.weight and fc2.weight is [width, width]")
    blocks: Annotated[int, Field(ge=1, le=1000), BeforeValidator(strict_int)] = Field(
        description="residual blocks L: each fc1.weight is scaled by L^(-1/2)"
    )
    output_width: Dim = Field(description="outputs: head.weight is [output_width, width], zero")


class ZerOMlp(_Architecture):
    """An MLP initialized with ZerO: widths [input, hidden..., output].

    ZerO (Zhao, Schafer & Anandkumar 2022, arXiv:2110.12661, Algorithm 1): every weight
    layers.i.weight hadamard_identity (docs/SCHEMES.md): the identity where out <= in, else a scaled
    Hadamard block c H_p[:out, :in], c = 1/sqrt(p), p = 2^ceil(log2 out); every bias 0. Nothing is
    random: every seed gives the same values.
    """

    model_config = _example({"preset": "zero_mlp", "widths": [16, 64, 64, 10]})
    preset: Literal["zero_mlp"]
    widths: list[Dim] = Field(
        min_length=2,
        max_length=64,
        description="[input, hidden..., output]: layers.i.weight is [widths[i+1], widths[i]]",
    )


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
