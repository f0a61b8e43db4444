"""service.spec.architectures: whole named state dicts (GPT-2, muP, Fixup, ZerO) with each family's
per-layer rules, as PyTorch would name and shape them."""

import math

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
def test_mup_mlp_uses_one_over_fan_in_variances_and_a_zero_or_smaller_readout(readout_zero):
    tensors, notes = expanded(preset="mup_mlp", widths=[10, 64, 64, 3], base_width=16, readout_zero=readout_zero)
    assert sorted(tensors) == sorted(f"layers.{i}.{kind}" for i in range(3) for kind in ("weight", "bias"))
    assert tensors["layers.0.weight"].shape == (64, 10) and tensors["layers.2.weight"].shape == (3, 64)
    assert tensors["layers.0.weight"].params["std"] == pytest.approx(1 / math.sqrt(10), rel=1e-15)
    assert tensors["layers.1.weight"].params["std"] == pytest.approx(1 / math.sqrt(64), rel=1e-15)
    readout = tensors["layers.2.weight"]
    if readout_zero:
        assert readout.scheme == "zeros"
    else:
        assert (readout.scheme, readout.params["std"]) == ("normal", pytest.approx(1 / 64, rel=1e-15))
    assert all(tensors[f"layers.{i}.bias"].scheme == "zeros" for i in range(3))
    assert notes["width_mult"] == 4.0 and notes["readout_multiplier"] == 0.25
    assert notes["adam_lr_multipliers"] == {"layers.0": 1.0, "layers.1": 0.25, "layers.2": 0.25}


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
    spec = {"preset": "mup_mlp", "widths": [4, 8, 2], "base_width": 8}
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
        {"preset": "mup_mlp", "widths": [8], "base_width": 8},
        {"preset": "mup_mlp", "widths": [8, 8]},
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
