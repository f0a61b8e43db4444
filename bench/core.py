"""Core throughput on 4096 x 4096 float32, every scheme: initw (compiled and numpy paths) against torch.nn.init.

    python -m bench.core                         # both initw paths and torch; prints and saves
    python -m bench.core --repeats 9 --kernels numpy

Each round times torch, then initw on each path, one after another, so a shared machine's noise
hits them alike; times are medians of the rounds, ratios (torch time / initw time, > 1: initw is
faster) medians of the per-round ratios. Both libraries use every core. A row judged by the
issue-12 goals says met or MISSED (the goals are floors), and its ns per element per core (wall
time x threads / elements) against the limit measured by bench/limits.py. torch is optional: without
it the torch columns say n/a and no goal is judged. The tables go to bench/results/core.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.core.generate import TensorSpec, generate
from service.core.parallel import THREADS, keep_freed_memory

from . import limits, paths

N = 4096
RESULTS = Path(__file__).with_name("results") / "core.md"


@dataclass(frozen=True)
class Target:
    """One row of issue 12's table: the work, the floor torch / initw must reach, and the limit's formula."""

    work: str
    floor: float
    limit: str  # "uniform", "normal", "sparse", "orthogonal": see row_limit


GOALS = {
    "normal": Target("normal, xavier_normal, kaiming_normal", 1.0, "normal"),
    "truncated_sigma": Target("truncated normal, sigma bounds (lecun_normal, variance_scaling)", 10.0, "normal"),
    "truncated_absolute": Target("truncated normal, absolute bounds [-2, 2] at std 0.02", 1.0, "normal"),
    "uniform": Target("uniform family", 1.5, "uniform"),
    "orthogonal": Target("orthogonal 1024x1024", 0.25, "orthogonal"),
    "sparse_sphere": Target("sparse, sphere_rows", 1.0, "normal"),
}


@dataclass(frozen=True)
class Case:
    label: str
    shape: tuple[int, ...]
    scheme: str
    params: dict[str, Any]
    torch_fn: Callable[[Any], object] | None  # in place on a tensor of ``shape``
    goal: str | None  # a key of GOALS
    limit: str | None = None  # the limit's formula, when it differs from the goal's
    torch_once: bool = False  # torch takes tens of seconds: timed once, no warm-up, every round's ratio uses it

    @property
    def limit_kind(self) -> str | None:
        return self.limit or (GOALS[self.goal].limit if self.goal else None)


def cases(torch: Any) -> list[Case]:
    """Every scheme; the torch equivalent where there is one (None where torch is not installed)."""
    sq = (N, N)
    lecun_std = math.sqrt(1 / N) / 0.87962566103423978

    def t(name: str, **kwargs: Any) -> Callable[[Any], object] | None:
        if torch is None:
            return None
        fn = getattr(torch.nn.init, name)
        return lambda tensor: fn(tensor, **kwargs)

    def sphere(tensor: Any) -> None:
        torch.nn.init.normal_(tensor)
        tensor /= tensor.norm(dim=1, keepdim=True)

    lecun = {"std": lecun_std, "a": -2 * lecun_std, "b": 2 * lecun_std}
    return [
        Case("uniform", sq, "uniform", {}, t("uniform_"), "uniform"),
        Case("xavier_uniform", sq, "xavier_uniform", {}, t("xavier_uniform_"), "uniform"),
        Case("kaiming_uniform", sq, "kaiming_uniform", {}, t("kaiming_uniform_"), "uniform"),
        Case("kaiming_uniform a=sqrt(5) (Linear default)", sq, "kaiming_uniform", {"a": math.sqrt(5)},
             t("kaiming_uniform_", a=math.sqrt(5)), "uniform"),
        Case("lecun_uniform", sq, "lecun_uniform", {}, t("kaiming_uniform_", nonlinearity="linear"), "uniform"),
        Case("normal", sq, "normal", {}, t("normal_"), "normal"),
        Case("xavier_normal", sq, "xavier_normal", {}, t("xavier_normal_"), "normal"),
        Case("kaiming_normal", sq, "kaiming_normal", {}, t("kaiming_normal_"), "normal"),
        Case("lecun_normal (truncated, sigma bounds)", sq, "lecun_normal", {}, t("trunc_normal_", **lecun),
             "truncated_sigma"),
        Case("variance_scaling (truncated, sigma bounds)", sq, "variance_scaling", {}, t("trunc_normal_", **lecun),
             "truncated_sigma"),
        Case("truncated_normal (std 0.02, [-2, 2] absolute)", sq, "truncated_normal", {"std": 0.02},
             t("trunc_normal_", std=0.02), "truncated_absolute"),
        Case("truncated_normal (std 1, [-2, 2])", sq, "truncated_normal", {}, t("trunc_normal_"), None, "normal"),
        Case("truncated_normal (sigma [4, 6]; torch timed once)", sq, "truncated_normal",
             {"a": 4.0, "b": 6.0, "bounds": "sigma"}, t("trunc_normal_", a=4.0, b=6.0), None,
             torch_once=True),  # every lane in the tail branch: no measured limit
        Case("orthogonal (1024 x 1024)", (1024, 1024), "orthogonal", {}, t("orthogonal_"), "orthogonal"),
        Case("sparse (0.1)", sq, "sparse", {"sparsity": 0.1}, t("sparse_", sparsity=0.1), "sparse_sphere", "sparse"),
        Case("sphere_rows", sq, "sphere_rows", {}, sphere if torch else None, "sparse_sphere"),
        Case("zeros", sq, "zeros", {}, t("zeros_"), None),
        Case("ones", sq, "ones", {}, t("ones_"), None),
        Case("constant", sq, "constant", {"value": 0.3}, t("constant_", val=0.3), None),
        Case("eye", sq, "eye", {}, t("eye_"), None),
        Case("dirac (64, 64, 64, 64)", (64, 64, 64, 64), "dirac", {}, t("dirac_"), None),
        Case("delta_orthogonal (1024, 1024, 3, 3)", (1024, 1024, 3, 3), "delta_orthogonal", {}, None, None),
        Case("spread_rows", sq, "spread_rows", {}, None, None),
    ]  # fmt: skip


@dataclass
class Row:
    """One case timed on torch and on every initw path of the run; ``primary`` is the path goals are judged on."""

    case: Case
    primary: str
    initw_s: dict[str, float]  # path -> median seconds
    ratio: dict[str, float]  # path -> median of per-round torch / initw (absent without torch)
    torch_s: float | None
    limit_ns: float | None

    @property
    def label(self) -> str:
        return self.case.label

    @property
    def elements(self) -> int:
        return math.prod(self.case.shape)

    @property
    def goal(self) -> Target | None:
        return GOALS[self.case.goal] if self.case.goal else None

    def ns_per_element(self, path: str | None = None) -> float:
        """Wall time x threads / elements: ns per element per core."""
        return self.initw_s[path or self.primary] * THREADS / self.elements * 1e9

    @property
    def met(self) -> bool | None:
        """Whether the primary path reaches its goal; None without a goal or without torch."""
        if self.goal is None or self.primary not in self.ratio:
            return None
        return self.ratio[self.primary] >= self.goal.floor

    def cells(self, timed: tuple[str, ...], with_torch: bool) -> list[str]:
        cells = [self.label]
        if with_torch:
            cells.append(_ms(self.torch_s))
        for path in timed:
            cells.append(_ms(self.initw_s[path]))
            if with_torch:
                cells.append(f"{self.ratio[path]:.2f}x" if path in self.ratio else "n/a")
        verdict = ""
        if self.goal is not None:
            verdict = f">= {self.goal.floor:g}x: " + {True: "met", False: "MISSED", None: "not judged"}[self.met]
        ns = self.ns_per_element()
        cells += [verdict, f"{ns:.2f}", _ns(self.limit_ns), limits.ratio_text(ns, self.limit_ns)]
        return cells


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:.1f}"


def _ns(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: imports, caches, thread pools
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_case(case: Case, timed: tuple[str, ...], repeats: int, torch: Any, limit_ns: float | None) -> Row:
    """Rounds of torch, then initw on each path; medians."""

    def ours() -> object:  # a fresh spec each run: a spec caches its plan, whole-tensor plans their values
        return generate(TensorSpec("weight", case.shape, case.scheme, case.params), 0)

    tensor = torch.empty(case.shape) if torch is not None and case.torch_fn is not None else None
    theirs = (lambda: case.torch_fn(tensor)) if tensor is not None and case.torch_fn is not None else None
    for path in timed:  # warm-up, every side: imports, caches, thread pools
        with paths.active(path):
            ours()
    once = None
    if theirs and case.torch_once:
        once = _seconds(theirs)
    elif theirs:
        theirs()
    rounds: list[dict[str, float]] = []
    for _ in range(repeats):
        sample = {"torch": once or _seconds(theirs)} if theirs else {}
        for path in timed:
            with paths.active(path):
                sample[path] = _seconds(ours)
        rounds.append(sample)
    initw_s = {path: statistics.median(r[path] for r in rounds) for path in timed}
    ratio = {path: statistics.median(r["torch"] / r[path] for r in rounds) for path in timed} if theirs else {}
    torch_s = statistics.median(r["torch"] for r in rounds) if theirs else None
    return Row(case, timed[0], initw_s, ratio, torch_s, limit_ns)


def row_limit(case: Case, measured: limits.Limits, repeats: int) -> float | None:
    """The case's limit in ns per element per core (see bench/limits.py), None where there is none."""
    kind = case.limit_kind
    if kind == "uniform":
        return measured.elementwise(words=1, quantile=False)
    if kind == "normal":
        return measured.elementwise(words=1)
    if kind == "sparse":
        return measured.elementwise(words=2)
    if kind == "orthogonal":
        values = measured.elementwise(words=1)
        rows, cols = case.shape[0], math.prod(case.shape[1:])
        return None if values is None else values + limits.lapack_qr_ns(rows, cols, repeats)
    return None


def load_torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    # trunc_normal_ on [4, 6] sigma warns that its mean lies outside [a, b]: that is the case being timed
    warnings.filterwarnings("ignore", message="mean is more than 2 std", category=UserWarning)
    return torch


def run(repeats: int, rows: list[Row] | None = None, choice: paths.Paths | None = None) -> list[str]:
    """Time every case, print the tables as they go, write bench/results/core.md; the markdown lines.
    ``rows``, when given, receives the measured rows (bench/__main__.py judges the goals from them)."""
    choice = choice or paths.resolve()
    timed = choice.timed
    torch = load_torch()
    keep_freed_memory()  # the allocator setting the server makes at start-up (torch benefits as well)
    lines: list[str] = []

    def emit(*new: str) -> None:
        print("\n".join(new), flush=True)
        lines.extend(new)

    torch_text = (
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
        if torch
        else "torch not installed (pip install torch==2.13.0): torch columns skipped, goals not judged"
    )
    emit(
        f"# Core benchmark: initw vs torch.nn.init, float32, medians of {repeats} rounds",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}; {torch_text}; "
        f"initw uses {THREADS} threads.",
        "",
    )
    measured = limits.measure(repeats * 5)
    emit(*measured.lines)
    header = ["scheme"] + (["torch ms"] if torch else [])
    for path in timed:
        header += [f"initw {path} ms"] + ([f"torch / {path}"] if torch else [])
    header += [
        f"goal ({timed[0]})",
        f"{timed[0]} ns/element/core",
        "limit ns/element",
        "ns / limit",
    ]
    emit(
        "## Every scheme, 4096 x 4096 unless said; initw paths: "
        + "; ".join(f"{path} = {paths.text(path)}" for path in timed),
        "",
        f"Paths: {choice.note}. Ratios: torch time / initw time, medians of per-round ratios (> 1: initw "
        "faster). ns/element/core = wall time x threads / elements; limit: see the limits above.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    )
    for case in cases(torch):
        row = measure_case(case, timed, repeats, torch, row_limit(case, measured, repeats))
        if rows is not None:
            rows.append(row)
        emit("| " + " | ".join(row.cells(timed, torch is not None)) + " |")
    emit("")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"written to {RESULTS}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--kernels", choices=paths.CHOICES, default="auto", help="initw value paths to time")
    args = parser.parse_args()
    run(args.repeats, choice=paths.resolve(args.kernels))


if __name__ == "__main__":
    main()
