"""service.torch: modules filled in place with the bytes of their POST /init request, each module's
own default distribution, rules, meta-built modules, and the same from a server."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[test]' installs it)")
from torch import nn  # noqa: E402

from bench.torch_init import GPT  # noqa: E402
from service.core.generate import TensorSpec, generate_block  # noqa: E402
from service.core.read import read  # noqa: E402
from service.torch import _fetch, gpt2_rules, initialize, request_body  # noqa: E402

SEED = 5


def _bytes(t: torch.Tensor) -> bytes:
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def _zoo() -> nn.Module:
    return nn.Sequential(
        nn.Linear(8, 16), nn.Conv2d(4, 6, 3, groups=2), nn.ConvTranspose1d(4, 6, 3), nn.Embedding(10, 4),
        nn.LayerNorm(4), nn.RMSNorm(6), nn.GroupNorm(2, 4), nn.BatchNorm2d(3), nn.MultiheadAttention(8, 2, bias=True),
        nn.TransformerEncoderLayer(8, 2, 16), nn.GRU(4, 5), nn.Bilinear(3, 4, 5),
    )  # fmt: skip


def test_a_module_holds_exactly_the_file_post_init_serves_for_its_request(client):
    for dtype in (torch.float32, torch.bfloat16):
        model = _zoo().to(dtype)
        report = initialize(model, SEED)
        served, _ = read(client.post("/init", json=request_body(model, SEED)).content)
        state = model.state_dict()
        assert set(served) == set(state) and len(report) == len(state)
        for name, value in state.items():
            assert served[name].data == _bytes(value), name


@pytest.mark.parametrize(
    "make",
    [lambda: nn.Linear(256, 512), lambda: nn.Conv2d(64, 96, 3, groups=2), lambda: nn.Embedding(2000, 64),
     lambda: nn.MultiheadAttention(64, 4), lambda: nn.LSTM(32, 64), lambda: nn.ConvTranspose2d(32, 48, 3)],
    ids=["linear", "conv-groups", "embedding", "attention", "lstm", "conv-transpose"],
)  # fmt: skip
def test_each_default_draws_its_modules_own_reset_parameters_distribution(make):
    torch.manual_seed(0)
    theirs = make()
    ours = make()
    initialize(ours, SEED)
    for (name, a), (_, b) in zip(theirs.named_parameters(), ours.named_parameters(), strict=True):
        a, b = a.detach().numpy().ravel(), b.detach().numpy().ravel()
        if np.all(a == a[0]):  # a constant (a zero bias): the same constant
            np.testing.assert_array_equal(a, b)
            continue
        assert stats.ks_2samp(a, b).pvalue > 1e-4, name
        assert np.abs(b).max() <= np.abs(a).max() * 1.05 or name.endswith("weight") and "Embedding" in repr(theirs)


def test_a_meta_built_module_is_filled_after_to_empty_and_refused_before():
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    with pytest.raises(ValueError, match="meta device"):
        initialize(model, SEED)
    model.to_empty(device="cpu")
    initialize(model, SEED)
    reference = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    initialize(reference, SEED)
    for name, value in reference.state_dict().items():
        assert _bytes(model.state_dict()[name]) == _bytes(value)


class _Custom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.empty(3))
        self.fc = nn.Linear(3, 3)


def test_rules_override_defaults_and_an_uncovered_tensor_is_an_error_unless_kept():
    with pytest.raises(ValueError, match="no rule or module default covers scale"):
        initialize(_Custom(), SEED)
    model = _Custom()
    before = model.scale.detach().clone()
    report = {r.name: r for r in initialize(model, SEED, keep_unmatched=True)}
    assert "scale" not in report and torch.equal(model.scale.detach(), before)
    report = {r.name: r for r in initialize(model, SEED, {"scale": "ones", "fc.weight": {"name": "keras.HeNormal"}})}
    assert torch.equal(model.scale.detach(), torch.ones(3)) and report["scale"].source == "rule scale"
    # a Keras word on a torch [out, in] weight: the module's own fans, Keras's truncated He normal
    assert report["fc.weight"].scheme == "variance_scaling"
    assert report["fc.bias"].source == "default Linear"


def test_the_gpt2_preset_as_rules_gives_the_presets_file(client):
    n_layer, d, vocab, block = 2, 32, 100, 16

    model = GPT(n_layer, d, vocab, block)  # bench/torch_init.py's nanoGPT, small
    initialize(model, SEED, gpt2_rules(n_layer))
    preset = {"preset": "gpt2", "n_layer": n_layer, "n_embd": d, "vocab_size": vocab, "block_size": block}
    served, _ = read(client.post("/init", json={"seed": SEED, "model": preset}).content)
    state = model.state_dict()
    assert set(served) == set(state) - {"lm_head.weight"}
    for name, value in served.items():
        assert value.data == _bytes(state[name]), name
    assert state["lm_head.weight"].data_ptr() == state["transformer.wte.weight"].data_ptr()


@pytest.mark.slow  # a server process
def test_a_selection_from_a_server_is_the_local_selection():
    pytest.importorskip("httpx")
    from tests.e2e.servers import serving  # noqa: PLC0415

    spec = TensorSpec("w", (40, 24), "normal", {"std": 0.5}, "float32")
    index = [np.arange(40), np.arange(6, 12)]  # a column shard: strided rows
    import tempfile  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as directory, serving("torch", Path(directory)) as server:
        fetched = _fetch(server.url, spec, SEED, index)
        model = nn.Linear(24, 40)
        initialize(model, SEED, server=server.url)
    assert fetched.tobytes() == generate_block(spec, SEED, index).tobytes()
    local = nn.Linear(24, 40)
    initialize(local, SEED)
    assert _bytes(model.weight) == _bytes(local.weight) and _bytes(model.bias) == _bytes(local.bias)
    assert math.isfinite(float(model.weight.detach().sum()))
