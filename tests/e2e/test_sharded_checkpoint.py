"""Issue 17's "done when" for sharded checkpoints: three independent processes write one shard each
(the CLI computing locally, the CLI asking a real server, the Python client asking it), a fourth
writes the index; the stock loaders read the directory (safetensors; transformers' sharded loader
into a torch module, and ``from_pretrained`` of a small GPT-2, where they are installed), and the
tensors equal the single file POST /init serves, byte for byte."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ml_dtypes  # noqa: F401  (safe_open returns bfloat16 arrays once registered)
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load

from service.core.checkpoint import checkpoint
from service.spec.request import InitRequest, to_request

from .servers import ROOT, Server, serving

pytestmark = pytest.mark.slow

# 32000 (bf16), 64000 (alone: more than 40 kB), 320, 16000 (f16, orthogonal), 200 and 320 bytes:
# three shards, the second-met tensor's first (huggingface_hub numbers an oversized tensor's shard
# when it meets it).
BODY: dict[str, Any] = {
    "seed": 7,
    "tensors": [
        {"name": "embed.weight", "shape": [500, 32], "scheme": {"name": "normal", "std": 0.02}, "dtype": "bfloat16"},
        {"name": "proj.weight", "shape": [80, 200], "scheme": "xavier_uniform"},
        {"name": "proj.bias", "shape": [80], "scheme": "zeros"},
        {"name": "head.weight", "shape": [100, 80], "scheme": "orthogonal", "dtype": "float16"},
        {"name": "head.bias", "shape": [100], "scheme": {"name": "uniform", "a": -0.1, "b": 0.1}, "dtype": "float16"},
        {"name": "norm.weight", "shape": [80], "scheme": "ones"},
    ],
}
SIZE = "40KB"
CLIENT_SHARD = """
import json, sys
from service.client import Client
with Client(sys.argv[1]) as initw:
    done = initw.checkpoint(json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], shards=[3], index=False)
print(json.dumps([f.path.name for f in done.files]))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving("checkpoint", tmp_path_factory.mktemp("checkpoint-server")) as started:
        yield started


@pytest.fixture(scope="module")
def written(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkpoint directory, written by four processes at once, each knowing only the body and the size."""
    directory = tmp_path_factory.mktemp("checkpoint")
    body_file = directory.parent / "body.json"
    body_file.write_text(json.dumps(BODY))
    cli = [sys.executable, "-m", "service", "init", "--body", str(body_file), "--shard-size", SIZE, "--out",
           str(directory)]  # fmt: skip
    commands = [
        [*cli, "--shard", "1", "--local"],
        [*cli, "--shard", "2", "--url", server.url],
        [sys.executable, "-c", CLIENT_SHARD, server.url, json.dumps(BODY), SIZE, str(directory)],
        [*cli, "--index", "--local"],
    ]
    procs = [subprocess.Popen(c, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (proc.args, out, err)
        outputs.append(out)
    assert json.loads(outputs[2]) == ["model-00003-of-00003.safetensors"]  # the client wrote its shard only
    return directory


def test_the_four_processes_wrote_the_checkpoint_transformers_expects(written: Path) -> None:
    files = sorted(p.name for p in written.iterdir())
    assert files == ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                     "model-00003-of-00003.safetensors", "model.safetensors.index.json"]  # fmt: skip
    index = json.loads((written / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(files[:3])
    assert sorted(t["name"] for t in BODY["tensors"]) == list(index["weight_map"])  # sorted keys, as HF writes
    expected = checkpoint(to_request(InitRequest.model_validate(BODY)), 40_000)
    assert (written / "model.safetensors.index.json").read_bytes() == expected.index_bytes()
    for k, name in enumerate(expected.files, start=1):  # byte-identical, whoever wrote it
        assert (written / name).read_bytes() == expected.shard(k).to_bytes(), name


def test_safetensors_loads_every_shard_and_the_union_is_the_single_file(written: Path, server: Server) -> None:
    single = server.client.post("/init", json=BODY)
    assert single.status_code == 200, single.text
    with (written / "single.safetensors").open("wb") as file:
        file.write(single.content)
    index = json.loads((written / "model.safetensors.index.json").read_text())
    union: dict[str, np.ndarray] = {}
    for name in sorted(set(index["weight_map"].values())):
        with safe_open(written / name, framework="np") as shard:
            assert shard.metadata()["format"] == "pt"
            for key in shard.keys():  # noqa: SIM118  (safe_open is not a mapping)
                assert index["weight_map"][key] == name and key not in union
                union[key] = shard.get_tensor(key)
    with safe_open(written / "single.safetensors", framework="np") as whole:
        reference = {key: whole.get_tensor(key) for key in whole.keys()}  # noqa: SIM118
    (written / "single.safetensors").unlink()
    assert union.keys() == reference.keys()
    for key, values in reference.items():
        assert union[key].dtype == values.dtype and union[key].shape == values.shape, key
        assert union[key].tobytes() == values.tobytes(), key
    assert index["metadata"]["total_size"] == sum(v.nbytes for v in reference.values())
    assert load((written / "model-00003-of-00003.safetensors").read_bytes()).keys() == {
        "head.weight", "head.bias", "norm.weight"}  # fmt: skip


def test_transformers_sharded_loader_fills_a_torch_module(written: Path, server: Server) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed: transformers' loader needs it")
    pytest.importorskip("transformers", reason="transformers is not installed")
    try:
        from transformers.trainer_utils import load_sharded_checkpoint  # transformers 5
    except ImportError:  # transformers 4
        from transformers.modeling_utils import load_sharded_checkpoint
    from safetensors.torch import load as torch_load

    module = torch.nn.Module()
    for spec in BODY["tensors"]:
        dtype = getattr(torch, spec.get("dtype", "float32"))
        owner, _, leaf = spec["name"].rpartition(".")
        if not hasattr(module, owner):
            module.add_module(owner, torch.nn.Module())
        getattr(module, owner).register_parameter(leaf, torch.nn.Parameter(torch.empty(spec["shape"], dtype=dtype)))
    result = load_sharded_checkpoint(module, written, strict=True)
    assert (list(result.missing_keys), list(result.unexpected_keys)) == ([], [])
    reference = torch_load(server.client.post("/init", json=BODY).content)
    state = module.state_dict()
    assert state.keys() == reference.keys()
    for key, values in reference.items():
        assert state[key].dtype == values.dtype and torch.equal(state[key].view(torch.uint8), values.view(torch.uint8))


def test_from_pretrained_reads_a_gpt2_written_shard_by_shard(server: Server, tmp_path: Path) -> None:
    """A small GPT-2 of transformers' own: its state dict's names and shapes as the request, one
    shard per process, then ``GPT2LMHeadModel.from_pretrained`` on the directory (no network)."""
    torch = pytest.importorskip("torch", reason="torch is not installed: transformers' models need it")
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    config = transformers.GPT2Config(
        n_layer=2, n_embd=32, n_head=2, vocab_size=64, n_positions=16, bos_token_id=0, eos_token_id=0
    )
    with torch.device("meta"):
        shapes = {k: list(v.shape) for k, v in transformers.GPT2LMHeadModel(config).state_dict().items()}
    shapes.pop("lm_head.weight")  # tied to transformer.wte.weight, as save_pretrained leaves it out
    tensors = [{"name": k, "shape": s, "scheme": {"name": "normal", "std": 0.02}} for k, s in shapes.items()]
    body = {"seed": 3, "tensors": tensors}
    (tmp_path / "body.json").write_text(json.dumps(body))
    config.save_pretrained(tmp_path / "gpt2")
    split = checkpoint(to_request(InitRequest.model_validate(body)), 50_000)
    assert split.count == 3
    cli = [sys.executable, "-m", "service", "init", "--body", str(tmp_path / "body.json"), "--shard-size", "50KB",
           "--out", str(tmp_path / "gpt2")]  # fmt: skip
    commands = [[*cli, "--index", "--local"]]
    commands += [[*cli, "--shard", str(k), *(("--local",) if k % 2 else ("--url", server.url))]
                 for k in range(1, split.count + 1)]  # fmt: skip
    procs = [subprocess.Popen(c, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (proc.args, out, err)
    model = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "gpt2", local_files_only=True)
    reference = load(server.client.post("/init", json=body).content)
    state = model.state_dict()
    for key, values in reference.items():
        assert state[key].numpy().tobytes() == values.tobytes(), key
    assert torch.equal(model.lm_head.weight, model.transformer.wte.weight)
