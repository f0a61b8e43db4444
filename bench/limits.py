"""The pieces of an element's cost, each measured alone on one thread, and the limits the core rows are held to.

    python -m bench.limits            # prints the pieces table and the limits

Limits are measured on this machine, not estimated:

- word: the compiled Philox4x64-10 words alone (``_kernels.words``, nothing else in the loop). Every
  elementwise scheme consumes one word per element, so no elementwise scheme can beat it: the floor
  of uniform, and the first term of every other limit.
- central: the compiled AS241 quantile on p in its central region only (|p - 0.5| <= 0.425): the
  polynomial branch, branch-free across lanes, without the tails' log and square root.
- LAPACK QR: numpy.linalg.qr (blocked Householder, FMA) of the same float64 matrix. The pinned QR
  keeps the spec's operation order, so it cannot beat LAPACK: a floor for orthogonal.

All per element and per core (one thread), in 65,536-element chunks (the compiled kernels work in
blocks that stay in L1), so writing the tensor out to memory is not counted. Without the compiled
kernels the word and central limits cannot be measured (n/a).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.core import kernels
from service.core.bits import derive_key, philox_words
from service.core.distributions import Normal, Uniform, u01, uopen
from service.core.normal import ndtri
from service.core.parallel import THREADS, keep_freed_memory
from service.core.pinned import log

from . import paths

COUNT = 1 << 16  # elements per call: numpy's per-call cost amortized, the compiled blocks stay in L1 anyway
CALLS = 4  # calls per timing, so each timing spans milliseconds
CENTRAL = 0.425  # AS241's split: |p - 0.5| <= 0.425 is the central branch


def ns_per_element(fn: Callable[[], object], repeats: int, count: int = COUNT) -> float:
    """Median over ``repeats`` timings of CALLS calls, per element (one thread)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(CALLS):
            fn()
        times.append((time.perf_counter() - start) / CALLS)
    return statistics.median(times) / count * 1e9


def cpu_mhz() -> float | None:
    """The clock the kernel reports (/proc/cpuinfo), to express a time in cycles."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    values = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class Limits:
    """Per-element limits in ns (one core); None where the compiled kernels are not built."""

    word: float | None
    central: float | None
    mhz: float | None
    lines: list[str]  # the pieces table, as markdown

    def elementwise(self, words: int = 1, quantile: bool = True) -> float | None:
        """``words`` Philox words plus (if ``quantile``) one central AS241 quantile per element."""
        if self.word is None or (quantile and self.central is None):
            return None
        return words * self.word + (self.central if quantile and self.central is not None else 0.0)


def measure(repeats: int) -> Limits:
    keep_freed_memory()  # as the server does at start-up: numpy's temporaries stay mapped
    rng = np.random.default_rng(0)
    key = derive_key(0, "w")
    k0, k1 = key & ((1 << 64) - 1), key >> 64
    with paths.active(paths.NUMPY):
        words = philox_words(key, 0, COUNT)
    u = uopen(words)
    central = 0.5 + rng.uniform(-CENTRAL, CENTRAL, COUNT)
    compiled = paths.compiled_module()
    out64, out32 = np.empty(COUNT), np.empty(COUNT, dtype=np.float32)
    outw = np.empty(COUNT, dtype=np.uint64)
    float32 = kernels.DTYPE_CODES["float32"]
    normal_args, uniform_args = Normal(0.0, 1.0).kernel, Uniform(-1.0, 1.0).kernel

    def numpy_words() -> object:
        with paths.active(paths.NUMPY):
            return philox_words(key, 0, COUNT)

    def numpy_normal() -> object:
        return Normal(0.0, 1.0).sample(numpy_words()).astype(np.float32)

    def numpy_uniform() -> object:
        return Uniform(-1.0, 1.0).sample(numpy_words()).astype(np.float32)

    # (piece, numpy callable, compiled callable or None)
    pieces: list[tuple[str, Callable[[], object] | None, Callable[[], object] | None]] = [
        ("Philox4x64-10 word", numpy_words, compiled and (lambda: compiled.words(k0, k1, 0, 0, COUNT, outw))),
        ("u01 / uopen from a word", lambda: uopen(words), None),
        ("AS241 quantile, central lanes only", lambda: ndtri(central),
         compiled and (lambda: compiled.ndtri(central, out64))),
        ("AS241 quantile, uopen p (about 15% tail lanes)", lambda: ndtri(u),
         compiled and (lambda: compiled.ndtri(u, out64))),
        ("pinned log", lambda: log(u), compiled and (lambda: compiled.log(u, out64))),
        ("uniform affine + clamp", lambda: np.minimum(u01(words) * 2.0 - 1.0, 1.0), None),
        ("round to float32", lambda: u.astype(np.float32), None),
        ("whole element: normal, word to float32", numpy_normal,
         compiled and normal_args and (lambda: compiled.fill(*normal_args, k0, k1, 0, COUNT, out32, float32))),
        ("whole element: uniform, word to float32", numpy_uniform,
         compiled and uniform_args and (lambda: compiled.fill(*uniform_args, k0, k1, 0, COUNT, out32, float32))),
    ]  # fmt: skip
    measured: dict[str, tuple[float | None, float | None]] = {}
    rows = []
    for label, ours_numpy, ours_compiled in pieces:
        a = ns_per_element(ours_numpy, repeats) if ours_numpy else None
        b = ns_per_element(ours_compiled, repeats) if ours_compiled else None
        measured[label] = (a, b)
        rows.append(f"| {label} | {_ns(a)} | {_ns(b)} |")
    word = measured["Philox4x64-10 word"][1]
    central_ns = measured["AS241 quantile, central lanes only"][1]
    mhz = cpu_mhz()
    lines = [
        f"Pieces, ns per element on one thread ({COUNT:,}-element chunks, medians of {repeats} timings); "
        f"compiled column: {paths.text(paths.COMPILED) if compiled else 'not built'}:",
        "",
        "| piece | numpy ns/element | compiled ns/element |",
        "|---|---|---|",
        *rows,
        "",
        "Limits (per element, per core, measured above with the compiled kernels):",
        "",
        f"- word = the compiled Philox words alone: {_ns(word)} ns"
        + (f" = {word * mhz / 1e3:.1f} cycles at {mhz:.0f} MHz (/proc/cpuinfo); a word takes 5 of Philox4x64-10's "
           "64x64->128 multiplies" if word and mhz else "")
        + ". Every elementwise scheme consumes one word per element: the floor of the uniform family.",
        f"- central = the compiled AS241 quantile on central p alone: {_ns(central_ns)} ns (the polynomial branch "
        "across lanes; tails excluded).",
        "- normal-family limit = word + central; sparse = 2 words + central (a value and an ordering word per "
        "element); orthogonal = word + central + LAPACK's QR of the same matrix per element.",
        "",
    ]  # fmt: skip
    return Limits(word, central_ns, mhz, lines)


def lapack_qr_ns(rows: int, cols: int, repeats: int) -> float:
    """numpy.linalg.qr of a rows x cols float64 matrix, ns per element, wall time x cores (LAPACK may thread)."""
    z = np.random.default_rng(0).standard_normal((rows, cols))
    seconds = []
    np.linalg.qr(z)
    for _ in range(repeats):
        start = time.perf_counter()
        np.linalg.qr(z)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds) * THREADS / (rows * cols) * 1e9


def _ns(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def ratio_text(ns: float | None, limit: float | None) -> str:
    """How far a row is from its limit: ns / limit (1.00x: at the limit)."""
    if ns is None or limit is None or not math.isfinite(ns) or limit <= 0:
        return "n/a"
    return f"{ns / limit:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    limits = measure(parser.parse_args().repeats)
    print("\n".join(limits.lines))


if __name__ == "__main__":
    main()
