"""Core throughput on 4096 x 4096 float32, every scheme, against torch.nn.init in the same run.

    python -m bench.core                 # needs torch (pip install torch==2.13.0); prints and saves
    python -m bench.core --repeats 9     # medians of 9 runs each

Ratios are torch time / initw time (> 1: initw is faster), measured side by side, medians of
several runs, both libraries on the same threads. The table is written to bench/results/core.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.core.bits import derive_key, philox_words
from service.core.distributions import u01, uopen
from service.core.generate import TensorSpec, generate
from service.core.normal import ndtri
from service.core.parallel import keep_freed_memory

N = 4096
RESULTS = Path(__file__).with_name("results") / "core.md"


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: imports, caches, thread pools
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cases(torch):
    """(scheme label, shape, initw params, torch callable on a tensor or None, goal)."""
    init = torch.nn.init
    sq = (N, N)
    lecun_std = math.sqrt(1 / N) / 0.87962566103423978

    def sphere(t):
        init.normal_(t)
        t /= t.norm(dim=1, keepdim=True)

    return [
        ("zeros", sq, "zeros", {}, init.zeros_, None),
        ("ones", sq, "ones", {}, init.ones_, None),
        ("constant", sq, "constant", {"value": 0.3}, lambda t: init.constant_(t, 0.3), None),
        ("uniform", sq, "uniform", {}, init.uniform_, "uniform"),
        ("xavier_uniform", sq, "xavier_uniform", {}, init.xavier_uniform_, "uniform"),
        ("kaiming_uniform", sq, "kaiming_uniform", {}, init.kaiming_uniform_, "uniform"),
        ("kaiming_uniform a=sqrt(5) (Linear default)", sq, "kaiming_uniform", {"a": math.sqrt(5)},
         lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)), "uniform"),
        ("lecun_uniform", sq, "lecun_uniform", {},
         lambda t: init.kaiming_uniform_(t, nonlinearity="linear"), "uniform"),
        ("normal", sq, "normal", {}, init.normal_, "normal"),
        ("xavier_normal", sq, "xavier_normal", {}, init.xavier_normal_, "normal"),
        ("kaiming_normal", sq, "kaiming_normal", {}, init.kaiming_normal_, "normal"),
        ("truncated_normal (std 1, [-2, 2])", sq, "truncated_normal", {}, init.trunc_normal_, "truncated"),
        ("truncated_normal (std 0.02, [-2, 2] absolute)", sq, "truncated_normal", {"std": 0.02},
         lambda t: init.trunc_normal_(t, std=0.02), "truncated"),
        ("truncated_normal (sigma [4, 6])", sq, "truncated_normal", {"a": 4.0, "b": 6.0, "bounds": "sigma"},
         lambda t: init.trunc_normal_(t, a=4.0, b=6.0), "truncated"),
        ("lecun_normal (truncated)", sq, "lecun_normal", {},
         lambda t: init.trunc_normal_(t, std=lecun_std, a=-2 * lecun_std, b=2 * lecun_std), "truncated"),
        ("variance_scaling (truncated)", sq, "variance_scaling", {},
         lambda t: init.trunc_normal_(t, std=lecun_std, a=-2 * lecun_std, b=2 * lecun_std), "truncated"),
        ("sparse (0.1)", sq, "sparse", {"sparsity": 0.1}, lambda t: init.sparse_(t, 0.1), None),
        ("sphere_rows", sq, "sphere_rows", {}, sphere, None),
        ("eye", sq, "eye", {}, init.eye_, None),
        ("dirac (64, 64, 64, 64)", (64, 64, 64, 64), "dirac", {}, init.dirac_, None),
        ("orthogonal (1024 x 1024)", (1024, 1024), "orthogonal", {}, init.orthogonal_, None),
        ("delta_orthogonal (1024, 1024, 3, 3)", (1024, 1024, 3, 3), "delta_orthogonal", {}, None, None),
        ("spread_rows", sq, "spread_rows", {}, None, None),
    ]  # fmt: skip


GOALS = {"uniform": 1.0, "normal": 1.0, "truncated": 10.0}


@dataclass(frozen=True)
class Row:
    """One scheme timed both ways; ``goal`` names the family whose goal the ratio is judged by."""

    label: str
    elements: int
    initw_s: float
    torch_s: float | None
    goal: str | None

    @property
    def ratio(self) -> float | None:
        return None if self.torch_s is None else self.torch_s / self.initw_s

    @property
    def met(self) -> bool | None:
        """Whether the ratio reaches its family's goal; None for rows without a goal."""
        if self.goal is None or self.ratio is None:
            return None
        return self.ratio >= GOALS[self.goal]

    def line(self) -> str:
        theirs = "n/a" if self.torch_s is None else f"{self.torch_s * 1e3:.1f}"
        ratio = "n/a" if self.ratio is None else f"{self.ratio:.2f}x"
        verdict = "" if self.goal is None or self.met is None else f">= {GOALS[self.goal]:g}x: "
        verdict += {True: "met", False: "MISSED", None: ""}[self.met]
        return f"| {self.label} | {self.elements:,} | {self.initw_s * 1e3:.1f} | {theirs} | {ratio} | {verdict} |"


def measure(repeats: int, torch) -> Iterator[Row]:
    """Every case, one row at a time (the whole table takes minutes)."""
    for label, shape, scheme, params, torch_fn, goal in cases(torch):
        # A fresh spec each run: a spec caches its plan, and whole-tensor plans cache their values.
        ours = median_seconds(
            lambda shape=shape, scheme=scheme, params=params: generate(TensorSpec("weight", shape, scheme, params), 0),
            repeats,
        )
        theirs = None
        if torch_fn is not None:
            tensor = torch.empty(shape)
            theirs = median_seconds(lambda fn=torch_fn, t=tensor: fn(t), repeats)
        yield Row(label, math.prod(shape), ours, theirs, goal)


def profile(repeats: int) -> list[str]:
    """Where the time of one float32 normal goes, single-threaded, per element."""
    count = 1 << 16
    key = derive_key(0, "w")
    words = philox_words(key, 0, count)
    u = uopen(words)
    parts = [
        ("Philox4x64-10 word (numpy C)", lambda: philox_words(key, 0, count)),
        ("u01 / uopen from a word", lambda: uopen(words)),
        ("AS241 ndtri (central + 15% tails)", lambda: ndtri(u)),
        ("uniform affine + clamp", lambda: np.minimum(u01(words) * 2.0 - 1.0, 1.0)),
        ("round to float32", lambda: u.astype(np.float32)),
    ]
    return [f"| {label} | {median_seconds(fn, repeats * 5) / count * 1e9:.2f} |" for label, fn in parts]


def run(repeats: int, rows: list[Row] | None = None) -> list[str]:
    """Time every case, print the table as it goes, write bench/results/core.md; the markdown lines.
    ``rows``, when given, receives the measured rows (bench/__main__.py judges the goals from them)."""
    import torch

    keep_freed_memory()  # the allocator setting the server makes at start-up (torch benefits as well)
    torch.set_num_threads(os.cpu_count() or 1)
    lines = [
        f"# Core benchmark: initw vs torch.nn.init, float32, medians of {repeats} runs",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); initw uses {os.cpu_count()} threads.",
        "",
        "| scheme | elements | initw ms | torch ms | torch / initw | goal |",
        "|---|---|---|---|---|---|",
    ]
    print("\n".join(lines))
    for row in measure(repeats, torch):
        if rows is not None:
            rows.append(row)
        lines.append(row.line())
        print(lines[-1], flush=True)
    pieces = ["", "Per-element cost of the pieces (ns, one thread, 65,536-element chunks):", "",
              "| piece | ns / element |", "|---|---|", *profile(repeats)]  # fmt: skip
    print("\n".join(pieces))
    lines += pieces
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"\nwritten to {RESULTS}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    run(parser.parse_args().repeats)


if __name__ == "__main__":
    main()
