"""How generation time grows with size: 1e4 ... 3e8 float32 elements, normal and uniform, log-log.

    python -m bench.scaling [--quick]      # prints the table and writes bench/results/scaling.md

The slope d log t / d log n between consecutive sizes is 1.0 for linear growth; below 1 at small
sizes is fixed cost (plan, key, thread pool) being amortized. Both sides allocate their output
each run (``generate`` returns a new array; torch gets ``torch.empty(n)``), so page faults count
on both. torch, when installed, runs side by side; it is never needed by the service.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

from service.core.generate import TensorSpec, generate

from . import paths
from .core import median_seconds
from .report import Section

RESULTS = Path(__file__).with_name("results") / "scaling.md"
SIZES = [10**4, 10**5, 10**6, 10**7, 10**8, 3 * 10**8]
SCHEMES = ("normal", "uniform")


def runs_for(n: int, quick: bool) -> int:
    """Fewer runs for the big sizes: a 3e8 normal takes about a second."""
    if n >= 10**8:
        return 2 if quick else 3
    return 3 if quick else (5 if n >= 10**7 else 9)


def initw_fn(scheme: str, n: int) -> Callable[[], object]:
    # A fresh spec each run: a spec caches its plan. normal and uniform need no fans.
    return lambda: generate(TensorSpec("w", (n,), scheme), 0)


def torch_fn(torch, scheme: str, n: int) -> Callable[[], object]:
    init = {"normal": torch.nn.init.normal_, "uniform": torch.nn.init.uniform_}[scheme]
    return lambda: init(torch.empty(n))


def size_text(n: int) -> str:
    """1e4, 3e8: the table is log-log, so only the exponent (and a leading digit) matter."""
    mantissa, exponent = f"{n:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def slope(times: list[float], sizes: list[int], i: int) -> str:
    if i == 0:
        return ""
    return f"{math.log(times[i] / times[i - 1]) / math.log(sizes[i] / sizes[i - 1]):.2f}"


def run(quick: bool = False, path: str | None = None) -> Section:
    """Every size on the value path ``path`` (default: the one in use)."""
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
    except ImportError:
        torch = None
    path = path or paths.resolve().primary
    sizes = [n for n in SIZES if not quick or n <= 10**8]
    section = Section()
    section.emit(
        "## Scaling: `generate(TensorSpec('w', (n,), scheme), seed)`, float32, "
        f"{os.cpu_count()} threads; initw path: {paths.text(path)}"
        + (f"; torch {torch.__version__} side by side" if torch else "; torch not installed: its columns skipped"),
        "",
        "Median of 9 runs up to 1e6 elements, 5 at 1e7, 3 from 1e8 (quick: 3, 3, 2). "
        "Slope = d log t / d log n from the previous size (1.00 = linear).",
        "",
    )
    header = ["scheme", "n", "initw ms", "initw M elements/s", "initw slope"]
    if torch:
        header += ["torch ms", "torch M elements/s", "torch slope", "torch / initw"]
    for scheme in SCHEMES:
        ours: list[float] = []
        theirs: list[float] = []
        rows = []
        for i, n in enumerate(sizes):
            with paths.active(path):
                ours.append(median_seconds(initw_fn(scheme, n), runs_for(n, quick)))
            row = [scheme, size_text(n), f"{ours[i] * 1e3:.2f}", f"{n / ours[i] / 1e6:.0f}", slope(ours, sizes, i)]
            if torch:
                theirs.append(median_seconds(torch_fn(torch, scheme, n), runs_for(n, quick)))
                row += [f"{theirs[i] * 1e3:.2f}", f"{n / theirs[i] / 1e6:.0f}", slope(theirs, sizes, i)]
                row.append(f"{theirs[i] / ours[i]:.2f}x")
            rows.append(row)
        section.table(header, rows)
    RESULTS.parent.mkdir(exist_ok=True)
    title = "# Scaling benchmark" + (" (--quick)" if quick else "")
    RESULTS.write_text(title + "\n\n" + "\n".join(section.lines) + "\n")
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 1e8, fewer runs")
    parser.add_argument("--kernels", choices=paths.CHOICES, default="auto", help="initw value path (the first)")
    args = parser.parse_args()
    run(args.quick, paths.resolve(args.kernels).primary)


if __name__ == "__main__":
    main()
