"""A small transformer, its tensor-parallel plan, and a runner for torch.distributed (gloo, CPU)."""

from __future__ import annotations

import os
import sys
import tracemalloc
from pathlib import Path

import torch
from torch import nn

SEED = 11
VOCAB, WIDTH, LAYERS = 50001, 256, 2  # an odd vocabulary (uneven shards), large enough to weigh


class Attention(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))


class Block(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.ln1, self.attn, self.ln2 = nn.LayerNorm(d), Attention(d), nn.LayerNorm(d)
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)


class Transformer(nn.Module):
    def __init__(self, vocab: int = VOCAB, d: int = WIDTH, layers: int = LAYERS) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)


RULES = {
    "*.proj.weight": {"name": "normal", "std": 0.02 / (2 * LAYERS) ** 0.5},
    "head.weight": "lecun_normal",
    "blocks.1.attn.o.weight": "orthogonal",
}  # fmt: skip  (an orthogonal one: not random access)


def tensor_parallel(model: Transformer, mesh) -> None:  # type: ignore[no-untyped-def]
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    plan = {"emb": ColwiseParallel(), "head": ColwiseParallel()}
    for i in range(len(model.blocks)):
        plan.update({f"blocks.{i}.attn.{n}": ColwiseParallel() for n in "qkv"})
        plan.update({f"blocks.{i}.attn.o": RowwiseParallel(), f"blocks.{i}.fc": ColwiseParallel(),
                     f"blocks.{i}.proj": RowwiseParallel()})  # fmt: skip
    parallelize_module(model, mesh, plan)


def run(rank: int, world: int, dp: int, port: int, out: str) -> None:
    """One rank: meta model -> TP over 'tp' -> FSDP2 over 'dp' -> to_empty -> initialize; the full
    state dict gathered to rank 0 and saved to ``out``; every rank saves its initialize peak bytes."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from service.torch import initialize

    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        mesh = init_device_mesh("cpu", (dp, world // dp), mesh_dim_names=("dp", "tp"))
        with torch.device("meta"):
            model = Transformer()
        if world // dp > 1:
            tensor_parallel(model, mesh["tp"])
        for block in model.blocks:
            fully_shard(block, mesh=mesh["dp"])
        fully_shard(model, mesh=mesh["dp"])
        model.to_empty(device="cpu")
        local = sum(p.to_local().numel() * p.element_size() for p in model.parameters())
        tracemalloc.start()
        report = initialize(model, SEED, RULES)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        whole = sorted(r.name for r in report if r.whole)
        placements = sorted({str(p.placements) for p in model.parameters()})
        full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if rank == 0:
            torch.save({k: v.clone() for k, v in full.items()}, out)
        torch.save({"peak": peak, "local": local, "whole": whole, "placements": placements}, f"{out}.rank{rank}")
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parents[2]))
    rank, world, dp, port = (int(a) for a in sys.argv[1:5])
    run(rank, world, dp, port, sys.argv[5])
