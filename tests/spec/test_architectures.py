"""service.spec.architectures: whole named state dicts (GPT-2, muP, Fixup, ZerO) with each family's
per-layer rules, as PyTorch would name and shape them."""

import math

import numpy as np
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from service.spec.architectures import ArchitectureSpec, expand_architecture
from service.spec.request import InitRequest, to_request

ARCHITECTURE = TypeAdapter(ArchitectureSpec)


def expanded(**spec):
    planned, notes = expand_architecture(ARCHITECTURE.validate_python(spec))
    return {p.name: p for p in planned}, notes


def nanogpt_names(n_layer: int, bias: bool) -> list[str]:
    """The keys of nanoGPT's GPT.state_dict(), lm_head (tied to wte) left out."""
    names = ["transformer.wte.weight", "transformer.wpe.weight"]
    for i in range(n_layer):
        h = f"transformer.h.{i}"
        for module in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"):
            names.append(f"{h}.{module}.weight")
            if bias:
                names.append(f"{h}.{module}.bias")
    names.append("transformer.ln_f.weight")
    if bias:
        names.append("transformer.ln_f.bias")
    return names


@pytest.mark.parametrize("bias", [True, False])
def test_gpt2_is_nanogpts_state_dict_without_the_tied_head(bias):
    tensors, notes = expanded(preset="gpt2", n_layer=3, n_embd=48, vocab_size=100, block_size=16, bias=bias)
    assert sorted(tensors) == sorted(nanogpt_names(3, bias))
    d = 48
    assert tensors["transformer.wte.weight"].shape == (100, d) and tensors["transformer.wpe.weight"].shape == (16, d)
    shapes = {"attn.c_attn": (3 * d, d), "attn.c_proj": (d, d), "mlp.c_fc": (4 * d, d), "mlp.c_proj": (d, 4 * d)}
    for module, shape in shapes.items():
        assert tensors[f"transformer.h.2.{module}.weight"].shape == shape  # [out, in], as nn.Linear
    assert notes["tied"] == {"lm_head.weight": "transformer.wte.weight"} and "lm_head.weight" not in tensors
    assert all(p.source == "model" and p.layout == "torch" for p in tensors.values())


def test_gpt2_scales_only_the_residual_projections_by_one_over_sqrt_2_n_layer():
    tensors, notes = expanded(preset="gpt2", n_layer=8, n_embd=16, vocab_size=10, block_size=4, std=0.05)
    projection = 0.05 / math.sqrt(2 * 8)
    assert notes["residual_projection_std"] == pytest.approx(projection, rel=1e-15)
    for name, planned in tensors.items():
        if name.endswith("c_proj.weight"):
            assert (planned.scheme, planned.params["std"]) == ("normal", pytest.approx(projection, rel=1e-15))
        elif name.endswith((".c_attn.weight", ".c_fc.weight", "wte.weight", "wpe.weight")):
            assert (planned.scheme, planned.params) == ("normal", {"std": 0.05})
        elif ".ln_" in name and name.endswith(".weight"):
            assert planned.scheme == "ones"
        else:
            assert name.endswith(".bias") and planned.scheme == "zeros", name


def test_gpt2_defaults_are_gpt2_small():
    tensors, _ = expanded(preset="gpt2")
    assert tensors["transformer.wte.weight"].shape == (50257, 768)
    assert tensors["transformer.wpe.weight"].shape == (1024, 768)
    assert sum(name.endswith("attn.c_attn.weight") for name in tensors) == 12
    assert tensors["transformer.h.0.mlp.c_fc.weight"].params == {"std": 0.02}


@pytest.mark.parametrize("readout_zero", [True, False])
def test_mup_mlp_v2_follows_the_mup_package_tensor_by_tensor(readout_zero):
    tensors, notes = expanded(preset="mup_mlp_v2", widths=[10, 64, 64, 3], base_width=16, readout_zero=readout_zero)
    assert sorted(tensors) == sorted(f"layers.{i}.{kind}" for i in range(3) for kind in ("weight", "bias"))
    assert tensors["layers.0.weight"].shape == (64, 10) and tensors["layers.2.weight"].shape == (3, 64)
    assert tensors["layers.0.weight"].params["std"] == pytest.approx(1 / math.sqrt(10), rel=1e-15)
    assert tensors["layers.1.weight"].params["std"] == pytest.approx(1 / math.sqrt(64), rel=1e-15)
    readout = tensors["layers.2.weight"]
    if readout_zero:
        assert readout.scheme == "zeros"
    else:  # the standard draw N(0, 1/64) rescaled by sqrt(width_mult) = 2 (set_base_shapes, rescale_params)
        assert (readout.scheme, readout.params["std"]) == ("normal", pytest.approx(1 / math.sqrt(16), rel=1e-15))
    assert all(tensors[f"layers.{i}.bias"].scheme == "zeros" for i in range(3))
    assert notes["preset"] == "mup_mlp_v2" and notes["width_mult"] == 4.0 and "mup package" in notes["parametrization"]
    # MuReadout multiplies the readout's input by 1/width_mult; MuAdam divides only the hidden (matrix-like) LR
    assert notes["tensors"] == {
        "layers.0.weight": {"role": "input", "forward_multiplier": 1.0, "adam_lr_multiplier": 1.0},
        "layers.0.bias": {"role": "bias", "forward_multiplier": 1.0, "adam_lr_multiplier": 1.0},
        "layers.1.weight": {"role": "hidden", "forward_multiplier": 1.0, "adam_lr_multiplier": 0.25},
        "layers.1.bias": {"role": "bias", "forward_multiplier": 1.0, "adam_lr_multiplier": 1.0},
        "layers.2.weight": {"role": "readout", "forward_multiplier": 0.25, "adam_lr_multiplier": 1.0},
        "layers.2.bias": {"role": "bias", "forward_multiplier": 1.0, "adam_lr_multiplier": 1.0},
    }


def _effective(width: int, base: int = 32) -> dict[str, tuple[float, float]]:
    """Per role: (variance of multiplier x weight, Adam step of multiplier x weight per unit LR)."""
    tensors, notes = expanded(preset="mup_mlp_v2", widths=[20, width, width, 5], base_width=base, readout_zero=False)
    out = {}
    for name, rule in notes["tensors"].items():
        std = tensors[name].params.get("std", 0.0)
        m = rule["forward_multiplier"]
        out[rule["role"] if rule["role"] != "bias" else name] = ((m * std) ** 2, m * rule["adam_lr_multiplier"])
    return out


def test_mup_mlp_v2_scales_with_width_as_tensor_programs_v_table_3():
    """muP column of TP V Table 3, as exponents of fan_in in the effective (multiplier x weight)
    quantities: init variance input 1 (fixed fan_in), hidden 1/fan_in, output 1/fan_in^2; Adam
    LR input and biases 1, hidden and output 1/fan_in."""
    small, large = _effective(256), _effective(1024)  # fan_in x 4

    def exponent(role: str, which: int) -> float:
        return math.log(large[role][which] / small[role][which]) / math.log(4)

    assert exponent("input", 0) == pytest.approx(0) and exponent("input", 1) == pytest.approx(0)
    assert exponent("hidden", 0) == pytest.approx(-1) and exponent("hidden", 1) == pytest.approx(-1)
    assert exponent("readout", 0) == pytest.approx(-2) and exponent("readout", 1) == pytest.approx(-1)
    assert all(exponent(f"layers.{i}.bias", 1) == pytest.approx(0) for i in range(3))


def test_mup_mlp_v2_transfers_one_learning_rate_across_widths():
    """One Adam step on the readout (numpy, eps 1e-8) at two widths with the same base learning
    rate: the readout's output moves by the same coordinate size (muTransfer's coordinate check).
    The withdrawn mup_mlp, which also divided the readout's LR by width_mult, shrinks it 8x here."""
    rng = np.random.default_rng(0)

    def output_step(width: int, extra_lr: float = 1.0) -> float:
        _, notes = expanded(preset="mup_mlp_v2", widths=[20, width, 5], base_width=64, readout_zero=True)
        rule = notes["tensors"]["layers.1.weight"]
        m, lr = rule["forward_multiplier"], 1e-3 * rule["adam_lr_multiplier"] * extra_lr
        x = np.abs(rng.standard_normal((1, width))) + 0.5  # hidden activations: coordinates of size ~1
        delta = np.array([[1.0, -2.0, 0.5, 3.0, -1.0]])  # the loss's gradient at the output, one example
        grad = delta.T @ (m * x)
        m1, v1 = 0.1 * grad, 0.001 * grad**2  # Adam's first step, bias-corrected below
        step = -lr * (m1 / 0.1) / (np.sqrt(v1 / 0.001) + 1e-8)
        return float(np.abs(m * x @ step.T).mean()) / float(np.abs(x).mean())  # per unit of coordinate size

    assert output_step(2048) / output_step(256) == pytest.approx(1, rel=0.05)
    withdrawn = output_step(2048, extra_lr=64 / 2048) / output_step(256, extra_lr=64 / 256)
    assert withdrawn == pytest.approx(1 / 8, rel=0.05)


def test_the_withdrawn_mup_mlp_is_refused_saying_why():
    with pytest.raises(ValidationError, match="mup_mlp is withdrawn.*mup_mlp_v2"):
        ARCHITECTURE.validate_python({"preset": "mup_mlp", "widths": [4, 8, 2], "base_width": 8})


def test_fixup_mlp_scales_the_first_branch_layer_and_zeroes_the_last_and_the_head():
    tensors, notes = expanded(preset="fixup_mlp", input_width=12, width=32, blocks=9, output_width=5)
    assert notes["branch_scale"] == pytest.approx(1 / 3, rel=1e-15)
    assert tensors["stem.weight"].shape == (32, 12)
    assert tensors["stem.weight"].params["std"] == pytest.approx(math.sqrt(2 / 12), rel=1e-15)
    for i in range(9):
        assert tensors[f"blocks.{i}.fc1.weight"].params["std"] == pytest.approx(math.sqrt(2 / 32) / 3, rel=1e-15)
        assert tensors[f"blocks.{i}.fc2.weight"].scheme == "zeros"
        assert tensors[f"blocks.{i}.scale"].scheme == "ones" and tensors[f"blocks.{i}.scale"].shape == (1,)
        assert all(tensors[f"blocks.{i}.{b}"].scheme == "zeros" for b in ("bias1a", "bias1b", "bias2a", "bias2b"))
    assert tensors["head.weight"].scheme == "zeros" and tensors["head.weight"].shape == (5, 32)
    assert len(tensors) == 2 + 7 * 9 + 2


def test_zero_mlp_is_hadamard_identity_weights_and_zero_biases():
    tensors, notes = expanded(preset="zero_mlp", widths=[8, 16, 4])
    assert notes == {"preset": "zero_mlp"}
    assert [(n, p.shape, p.scheme) for n, p in tensors.items()] == [
        ("layers.0.weight", (16, 8), "hadamard_identity"),
        ("layers.0.bias", (16,), "zeros"),
        ("layers.1.weight", (4, 16), "hadamard_identity"),
        ("layers.1.bias", (4,), "zeros"),
    ]


def test_a_request_with_a_model_holds_the_architectures_tensors():
    spec = {"preset": "mup_mlp_v2", "widths": [4, 8, 2], "base_width": 8}
    request = to_request(InitRequest.model_validate({"seed": 1, "model": spec}))
    planned, _ = expand_architecture(ARCHITECTURE.validate_python(spec))
    assert [(t.name, t.shape) for t in request.tensors] == [(p.name, p.shape) for p in planned]


@pytest.mark.parametrize(
    "spec",
    [
        {"preset": "resnet"},
        {"preset": "gpt2", "n_layer": 0},
        {"preset": "gpt2", "n_layer": 129},
        {"preset": "gpt2", "n_layer": True},
        {"preset": "gpt2", "std": 0},
        {"preset": "gpt2", "std": 1.5},
        {"preset": "gpt2", "std": "0.02"},
        {"preset": "gpt2", "bias": 1},
        {"preset": "gpt2", "n_embd": 0},
        {"preset": "gpt2", "dropout": 0.1},
        {"preset": "mup_mlp_v2", "widths": [8, 8], "base_width": 8},
        {"preset": "mup_mlp_v2", "widths": [8, 8, 8]},
        {"preset": "fixup_mlp", "input_width": 4, "width": 4, "blocks": 0, "output_width": 2},
        {"preset": "fixup_mlp", "input_width": 4, "width": 4, "blocks": 2.5, "output_width": 2},
        {"preset": "zero_mlp", "widths": [8] * 65},
    ],
)
def test_invalid_architectures_are_validation_errors(spec):
    with pytest.raises(ValidationError):
        ARCHITECTURE.validate_python(spec)


def test_expand_refuses_a_model_that_is_not_an_architecture():
    class Other(BaseModel):
        preset: str = "other"

    with pytest.raises(TypeError, match="unknown architecture Other"):
        expand_architecture(Other())
