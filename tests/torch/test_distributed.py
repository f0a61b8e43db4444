"""The same initial weights at any world size (issue 17): torch.distributed on CPU (gloo) at world
sizes 1, 2 and 4, FSDP2 over a 'dp' mesh dimension and a tensor-parallel plan over 'tp' (column and
row sharding, _StridedShard where both shard a dimension, uneven shards), each rank filling only
its local shards; the gathered full state dict equals the single-process result and POST /init of
the equivalent request byte for byte, and each rank's allocations stay near its own shard."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[test]' installs it)")

from safetensors.numpy import load  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from service.app import create_app  # noqa: E402
from service.core.generate import CHUNK  # noqa: E402
from service.core.parallel import THREADS  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.torch import initialize, request_body  # noqa: E402

from .model import RULES, SEED, Transformer  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]
MESHES = [(1, 1), (2, 2), (2, 1), (4, 2)]  # (world size, dp): tp = world / dp


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bytes(t: torch.Tensor) -> bytes:
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


@pytest.fixture(scope="module")
def single() -> dict[str, torch.Tensor]:
    model = Transformer()
    initialize(model, SEED, RULES)
    return model.state_dict()


@pytest.fixture(scope="module", params=MESHES, ids=lambda m: f"world{m[0]}-dp{m[1]}")
def gathered(request, tmp_path_factory) -> tuple[tuple[int, int], dict, list[dict]]:
    world, dp = request.param
    out = tmp_path_factory.mktemp("dist") / "full.pt"
    port = _port()
    ranks = [subprocess.Popen([sys.executable, str(ROOT / "tests" / "torch" / "model.py"), str(r), str(world), str(dp),
                               str(port), str(out)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for r in range(world)]  # fmt: skip
    errors = [p.communicate(timeout=900)[1] for p in ranks]
    assert all(p.returncode == 0 for p in ranks), "\n".join(e[-2000:] for e in errors)
    stats = [torch.load(f"{out}.rank{r}") for r in range(world)]
    return request.param, torch.load(out), stats


def test_every_world_size_gathers_the_single_process_bytes(gathered, single):
    _, full, _ = gathered
    assert list(full) == list(single)
    for name, value in single.items():
        assert _bytes(full[name]) == _bytes(value), name


def test_the_single_process_bytes_are_post_inits(single):
    body = request_body(Transformer(), SEED, RULES)
    with TestClient(create_app(Settings(max_elements=1 << 26))) as client:
        answer = client.post("/init", json=body)
    assert answer.status_code == 200
    served = load(answer.content)
    assert set(served) == set(single)
    for name, value in single.items():
        assert served[name].tobytes() == _bytes(value), name


def test_each_rank_allocates_near_its_shard_not_the_whole_model(gathered, single):
    (world, _), _, stats = gathered
    full_bytes = sum(v.numel() * v.element_size() for v in single.values())
    working = THREADS * CHUNK * 64 + (8 << 20)  # a piece's temporaries per thread (artifact.PIECE_BYTES_PER_ELEMENT)
    for rank, stat in enumerate(stats):
        assert stat["local"] * world == pytest.approx(full_bytes, rel=0.05)  # the shards tile the model
        assert stat["peak"] <= stat["local"] + working, (rank, stat)
        if world == 4:
            assert stat["peak"] < full_bytes / 2, (rank, stat)  # never the full tensors
        assert stat["whole"] == ["blocks.1.attn.o.weight"]  # orthogonal: computed whole, and said so
    placed = " ".join(stats[0]["placements"])
    if world == 4:  # FSDP over dp on top of column/row TP: strided shards on dimension 0, Shard(1) too
        assert "_StridedShard(dim=0" in placed and "Shard(dim=1)" in placed, placed


def test_local_shards_of_a_strided_layout_are_what_the_full_tensor_holds():
    """Without processes: a single-rank mesh still reports its indices; generate_block of any
    selection equals the slice of the whole tensor (covered for every placement by the gathers)."""
    model = Transformer(vocab=11, d=8, layers=1)
    initialize(model, SEED, RULES)
    again = Transformer(vocab=11, d=8, layers=1)
    initialize(again, SEED, RULES)
    for name, value in model.state_dict().items():
        assert _bytes(value) == _bytes(again.state_dict()[name])
    assert np.isfinite(model.emb.weight.detach().numpy()).all()
