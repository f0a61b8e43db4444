"""Initializing GPT-2 small (124 M parameters) in place: initw against torch's own init, and per rank.

    python -m bench.torch_init                 # about 2 minutes on 2 cores; writes bench/results/torch_init.md
    python -m bench.torch_init --repeats 3

Both sides fill the same tensors, allocated once on the meta device then ``to_empty``: torch with
nanoGPT's ``_init_weights`` (``normal_(0, 0.02)`` for Linear and Embedding weights, zero biases,
the residual projections ``normal_(0, 0.02/sqrt(2 n_layer))``: torch's own RNG, one thread per op as
torch runs it), initw with ``initialize(model, seed, gpt2_rules(12))`` (the same distributions, the
bytes of POST /init). Then the same model under FSDP2 (``fully_shard`` per block and at the top)
on torch.distributed (gloo, CPU) at world sizes 1, 2 and 4: each rank times ``initialize`` of its
own shards. Medians of repeated runs; ranks share this machine's cores, so per-rank time at world
size 4 on 2 cores measures the work per rank, not a speed-up. Needs torch (pip install -e ".[torch]").
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
N_LAYER, N_EMBD, VOCAB, BLOCK = 12, 768, 50257, 1024


class Layer(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.ModuleDict({"c_attn": nn.Linear(d, 3 * d), "c_proj": nn.Linear(d, d)})
        self.mlp = nn.ModuleDict({"c_fc": nn.Linear(d, 4 * d), "c_proj": nn.Linear(4 * d, d)})


class GPT(nn.Module):
    """nanoGPT's parameters and names (lm_head tied to wte); GPT-2 small by default."""

    def __init__(self, n_layer: int = N_LAYER, d: int = N_EMBD, vocab: int = VOCAB, block: int = BLOCK) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict({"wte": nn.Embedding(vocab, d), "wpe": nn.Embedding(block, d),
                                          "h": nn.ModuleList(Layer(d) for _ in range(n_layer)),
                                          "ln_f": nn.LayerNorm(d)})  # fmt: skip
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.transformer.wte.weight


def torch_init(model: GPT) -> None:
    """nanoGPT's GPT._init_weights and its c_proj rule."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for name, p in model.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * N_LAYER))


def empty() -> GPT:
    with torch.device("meta"):
        model = GPT()
    model.to_empty(device="cpu")
    model.lm_head.weight = model.transformer.wte.weight  # to_empty makes new parameters: tie again
    return model


def single(repeats: int) -> dict[str, float]:
    from service.torch import gpt2_rules, initialize

    model = empty()
    params = sum(p.numel() for p in model.parameters())
    times: dict[str, list[float]] = {"torch": [], "initw": []}
    for _ in range(repeats):
        for name, fill in (("torch", torch_init), ("initw", lambda m: initialize(m, 0, gpt2_rules(N_LAYER)))):
            start = time.perf_counter()
            fill(model)
            times[name].append(time.perf_counter() - start)
    return {"params": params, **{k: statistics.median(v) for k, v in times.items()}}


def rank_main(rank: int, world: int, port: int, repeats: int) -> None:
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from service.torch import gpt2_rules, initialize

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        mesh = init_device_mesh("cpu", (world,))
        with torch.device("meta"):
            model = GPT()
        for layer in model.transformer.h:
            fully_shard(layer, mesh=mesh)
        fully_shard(model, mesh=mesh)
        model.to_empty(device="cpu")
        local = sum(p.to_local().numel() for p in model.parameters())
        times, cpu = [], []
        for _ in range(repeats):
            dist.barrier()
            start, start_cpu = time.perf_counter(), time.process_time()
            initialize(model, 0, gpt2_rules(N_LAYER))
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        print(f"RANK {rank} {local} {statistics.median(times)} {statistics.median(cpu)}", flush=True)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def per_rank(world: int, repeats: int) -> tuple[int, float, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ranks = [subprocess.Popen([sys.executable, "-m", "bench.torch_init", "--rank", str(r), "--world", str(world),
                               "--port", str(port), "--repeats", str(repeats)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True) for r in range(world)]  # fmt: skip
    lines = [line for p in ranks for line in p.communicate(timeout=1800)[0].splitlines() if line.startswith("RANK")]
    if any(p.returncode for p in ranks) or len(lines) != world:
        raise RuntimeError(f"world size {world}: a rank failed")
    parsed = [[float(v) for v in line.split()[2:5]] for line in lines]
    return int(max(p[0] for p in parsed)), max(p[1] for p in parsed), max(p[2] for p in parsed)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.torch_init")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rank", type=int)
    parser.add_argument("--world", type=int)
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.rank is not None:
        rank_main(args.rank, args.world, args.port, args.repeats)
        return 0
    one = single(args.repeats)
    lines = [
        "# GPT-2 small (nanoGPT, 124 M parameters) initialized in place",
        "",
        f"`python -m bench.torch_init --repeats {args.repeats}`; {platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, numpy path: INITW_KERNELS={os.environ.get('INITW_KERNELS', 'default')}.",
        "Medians; torch and initw fill the same allocated tensors, side by side in one run.",
        "",
        "| what | parameters | seconds | ratio to torch |",
        "|---|---|---|---|",
        f"| torch's own init (nanoGPT `_init_weights`) | {one['params']:,} | {one['torch']:.3f} | 1.00 |",
        f"| initw `initialize(model, 0, gpt2_rules(12))` | {one['params']:,} | {one['initw']:.3f} | "
        f"{one['initw'] / one['torch']:.2f} |",
    ]
    print("\n".join(lines), flush=True)
    rows = [
        "",
        "FSDP2 (`fully_shard` per block), gloo on CPU: each rank fills only its shards. CPU seconds are the",
        "rank's own work (all its threads); wall seconds share this machine's cores with the other ranks.",
        "",
        "| world size | parameters per rank (max) | CPU seconds per rank (max) | wall seconds per rank (max) |",
        "|---|---|---|---|",
    ]
    for world in (1, 2, 4):
        local, seconds, cpu = per_rank(world, max(1, args.repeats // 2))
        rows.append(f"| {world} | {local:,} | {cpu:.3f} | {seconds:.3f} |")
        print(rows[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "torch_init.md").write_text("\n".join(lines + rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
