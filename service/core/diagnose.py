"""Per-tensor diagnostics: is this tensor what its scheme promises, and is it a healthy init?

One streaming pass over the stored values (what the client receives, converted exactly to float64)
accumulates moments, extremes, support violations, per-unit norms, a strided KS subsample and up
to 256 sampled units. Everything is computed with pinned arithmetic over fixed 65536-element
blocks (tree sums inside a block, ``math.fsum`` across blocks), so the report is as reproducible
as the bytes and can be embedded in the artifact.

Two implementations give the same report bit for bit: the numpy code here is the written
reference; the compiled one (service/core/_diagnose.c, used where ``kernels.extension`` offers it)
streams each block once, fusing the first level of the moment trees into the pass, sorts the KS
sample by buckets, evaluates the theory's CDF in C and computes the row coherence from one half of
the Gram matrix. What depends only on the spec (the sampled units, the rounded support, the CDF's
constants) is computed once per shape or theory and cached.

Health bands follow docs/DIAGNOSTICS.md (heuristics, stated as such):
    mean z-score |z| < 4, std ratio |r - 1| < 4 SE, KS p > 1e-4      else warn (chance: ~1e-4)
    support violations or non-finite values                        fail
    all sampled rows identical                                     fail (symmetry never broken)
    row coherence < max(0.5, 1.25 x random), < 0.99 warn, else or duplicates fail
    orthogonality error within the dtype's tolerance               else fail
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import kernels
from .cancel import checkpoint
from .distributions import Normal, Theory, TruncatedNormal, Uniform, normal_cdf
from .dtypes import DType, get_dtype
from .fans import matrix_view
from .fpstate import pinned
from .generate import TensorSpec, generate
from .pinned import dot_rows, exp, tree_sum
from .registry import Elementwise, Plan

__all__ = [
    "BLOCK",
    "CHECKS",
    "GRAM_BUDGET",
    "KS_SAMPLE",
    "ORTHOGONALITY_TOLERANCE",
    "QUANTIZED",
    "ROW_SAMPLE",
    "Accumulator",
    "PartsView",
    "diagnose",
    "ks_pvalue",
    "ks_statistic",
    "ks_statistic_rounded",
]

BLOCK = 1 << 16  # fixed summation blocks: the report must not depend on generation chunks
KS_SAMPLE = 100_000
ROW_SAMPLE = 256
GRAM_BUDGET = 1 << 20  # sampled_rows^2 * row_length multiply-adds for the coherence: ~2 ms
ORTHOGONALITY_TOLERANCE = {
    "float64": 1e-12,
    "float32": 1e-5,
    "float16": 1e-2,
    "bfloat16": 2e-2,
    "float8_e4m3fn": 0.15,
    "float8_e5m2": 0.3,
}
# Formats so coarse that a tensor's stored values are compared with the rounded distribution (its
# mean and std over the format's values, and a KS test against its step CDF), not the real one.
QUANTIZED = ("float8_e4m3fn", "float8_e5m2")
# What an Accumulator checks: everything, or only what one pass gives (moments, extremes, counts):
# no KS test, no row or structure checks, so no subsample, no sampled rows and no sort.
CHECKS = ("full", "moments")


def _fsum(values: Any) -> float:
    """math.fsum; inf or nan where the exact sum leaves float64 (values near 1e308, or whose squares
    or fourth powers overflow), where fsum raises: such a tensor has no representable moments."""
    values = list(values)
    try:
        return math.fsum(values)
    except (OverflowError, ValueError):  # "intermediate overflow", or inf + -inf
        with np.errstate(all="ignore"):
            return float(np.sum(values))


def ks_pvalue(statistic: float, n: int) -> float:
    """Asymptotic Kolmogorov p-value with Stephens' small-sample correction, pinned exp."""
    if n == 0:
        return 1.0
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * statistic
    if lam < 0.2:
        return 1.0
    k = np.arange(1, 101, dtype=np.float64)
    terms = exp(-2.0 * k * k * lam * lam) * np.where(k % 2 == 1, 2.0, -2.0)
    return float(min(1.0, max(0.0, math.fsum(terms.tolist()))))


def ks_statistic(sample: np.ndarray, cdf: Callable[[NDArray[np.float64]], NDArray[np.float64]]) -> float:
    """D = sup |F_n - F| of a sample against a CDF (both one-sided gaps at every sample point)."""
    x = np.sort(sample)
    n = x.size
    f = cdf(x)
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))


@functools.lru_cache(maxsize=len(QUANTIZED))
def _atoms(dtype: str) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The format's distinct finite values, ascending, and the interval [low, high] of float64
    values that round to each (midpoints to the neighbours; beyond the ends, overflow)."""
    values = get_dtype(dtype).to_float64(np.arange(256, dtype=np.uint8))
    atoms = np.unique(values[np.isfinite(values)])  # -0 and +0 are one value
    mid = (atoms[1:] + atoms[:-1]) / 2  # exact: float8 values are short binary64s
    edge = atoms[-1] + (atoms[-1] - atoms[-2]) / 2
    low, high = np.concatenate([[-edge], mid]), np.concatenate([mid, [edge]])
    for array in (atoms, low, high):
        array.setflags(write=False)
    return atoms, low, high


def _stored_theory(theory: Theory, dtype: str) -> Theory:
    """For a QUANTIZED dtype, the theory of the rounded values: mean and std of the distribution
    over the format's values with the probabilities the real CDF gives their rounding intervals
    (the real one where nothing is random, or where everything rounds to one value). Other
    dtypes: ``theory`` itself."""
    if dtype not in QUANTIZED or theory.cdf is None or theory.std == 0.0:
        return theory
    atoms, low, high = _atoms(dtype)
    p = np.maximum(theory.cdf(high) - theory.cdf(low), 0.0)
    total = _fsum(p.tolist())
    if not total > 0:
        return theory
    mean = _fsum((atoms * p).tolist()) / total
    var = _fsum((p * (atoms - mean) ** 2).tolist()) / total
    if not var > 0:
        return theory  # every value rounds to one: the real spread shows what the format lost
    return replace(theory, mean=mean, std=math.sqrt(var), label=f"{theory.label} rounded to {dtype}")


def ks_statistic_rounded(
    sample: np.ndarray, cdf: Callable[[NDArray[np.float64]], NDArray[np.float64]], dtype: str
) -> float:
    """D = sup |F_n - G| for a sample of stored values of a QUANTIZED dtype, G the step CDF of
    the rounded distribution: G(v) = F(high(v)) at each value v, G(v-) = F(low(v)) just below it."""
    x = np.sort(sample)
    n = x.size
    atoms, low, high = _atoms(dtype)
    at = np.searchsorted(atoms, x)
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(max(np.max(i / n - cdf(high[at])), np.max(cdf(low[at]) - (i - 1) / n)))


_CdfArgs = tuple[int, tuple[float, ...]]  # a theory's CDF for _diagnose.ks: its kind and parameters


def _cdf_args(plan: Plan, theory: Theory) -> _CdfArgs | None:
    """The compiled form of ``theory``'s CDF where it is the plan's distribution's, one of
    distributions.py's three; None: the compiled path evaluates the theory's own (numpy) CDF."""
    if not isinstance(plan, Elementwise) or theory is not plan.distribution.theory:
        return None
    dist = plan.distribution
    if type(dist) is Uniform:
        return 0, (dist.low, dist.width)
    if type(dist) is Normal:
        return 1, (dist.mean, dist.std)
    if type(dist) is TruncatedNormal:
        return 2, (dist.mean, dist.std, *_truncated_bounds(dist.alpha, dist.beta, dist.mirrored))
    return None


@functools.lru_cache(maxsize=256)
def _truncated_bounds(alpha: float, beta: float, mirrored: bool) -> tuple[float, float, float]:
    """The truncated normal CDF's constants, as its numpy form computes them on every call."""
    if mirrored:
        return 1.0, float(normal_cdf(np.array(-alpha))), float(normal_cdf(np.array(-beta)))
    return 0.0, float(normal_cdf(np.array(alpha))), float(normal_cdf(np.array(beta)))


@functools.lru_cache(maxsize=1024)
def _rounded(dtype: str, value: float, sign: float) -> float:
    """A support bound rounded to the tensor's dtype (``sign`` keeps -0.0 and 0.0 apart in the cache)."""
    return get_dtype(dtype).round_scalar(value)


@functools.lru_cache(maxsize=256)
def _sampling(count: int, length: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The units whose vectors the row checks keep (evenly spaced, at most ROW_SAMPLE, within the
    Gram budget) and each unit's row among them (-1: not kept); read-only, shared by requests."""
    sampled = min(count, ROW_SAMPLE, max(2, int(math.sqrt(GRAM_BUDGET / length))))
    chosen = np.unique((np.arange(sampled) * count) // sampled)
    slot = np.full(count, -1, dtype=np.int64)
    slot[chosen] = np.arange(chosen.size)
    chosen.setflags(write=False)
    slot.setflags(write=False)
    return chosen, slot


class _Units:
    """Where each element's unit (output neuron) and position within the unit's vector are."""

    def __init__(self, spec: TensorSpec):
        rows, cols = matrix_view(spec.shape, spec.layout)
        self.torch = spec.layout == "torch"
        self.count, self.length = (rows, cols) if self.torch else (cols, rows)
        self.cols = cols
        self.sampled, self.slot = _sampling(self.count, self.length)

    def locate(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.torch:
            return index // self.cols, index % self.cols
        return index % self.cols, index // self.cols


@dataclass(frozen=True)
class _PartsPlan:
    theory: Theory
    checks: Mapping[str, Any]
    random_access: bool = True


@dataclass(frozen=True)
class PartsView:
    """A complex tensor seen as its real and imaginary parts: shape (*shape, 2), each part in the
    format of a part (float32 for complex64), against the theory of a part. The diagnostics of a
    complex tensor are those of its parts, pooled."""

    name: str
    shape: tuple[int, ...]
    layout: str
    out_dtype: DType
    plan: _PartsPlan

    @classmethod
    def of(cls, spec: TensorSpec) -> PartsView:
        plan = spec.plan
        return cls(spec.name, (*spec.shape, 2), spec.layout, spec.out_dtype.part, _PartsPlan(plan.theory, plan.checks))

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


class Accumulator:
    """Streams the stored values of one tensor, in element order, and reports its diagnostics."""

    def __init__(self, spec: TensorSpec, sample: int | None = None, checks: str = "full"):
        """``sample``: diagnose that many values drawn from the tensor (no row checks) instead of
        the whole tensor; they are streamed in like the whole tensor would be. ``checks``: one of
        CHECKS; with "moments" the report holds the moments, extremes and counts and the verdicts
        they give (mean_z, std_ratio, finite, support, and symmetry from the theory alone)."""
        if checks not in CHECKS:
            raise ValueError(f"checks must be one of {CHECKS}, got {checks!r}")
        self.parts = spec.out_dtype.parts
        if self.parts == 2:  # complex: its parts, twice as many values (see PartsView)
            spec = PartsView.of(spec)  # type: ignore[assignment]  # duck-typed: what the accumulator reads
            sample = None if sample is None else 2 * sample
        self.spec = spec
        self.moments_only = checks == "moments"
        self.count = spec.numel if sample is None else sample
        self.dtype = spec.out_dtype
        self.theory: Theory = spec.plan.theory
        if isinstance(spec.plan, Elementwise) and self.theory is spec.plan.distribution.theory:
            self.theory = _stored_theory(self.theory, self.dtype.name)  # the CDF is the whole tensor's
        self.center = self.theory.mean
        self.position = 0
        self._pending: list[np.ndarray] = []  # values of the block not yet complete, in order
        self._pending_size = 0
        self.blocks: list[tuple[float, float, float, float]] = []  # (S1, S2, S3, S4) per block
        self.minimum, self.maximum = math.inf, -math.inf
        self.nonfinite = 0
        self.outside = 0
        self.low = None if self.theory.low is None else self._bound(self.theory.low)
        self.high = None if self.theory.high is None else self._bound(self.theory.high)
        self.ks_stride = max(1, -(-self.count // KS_SAMPLE))
        self.ks_parts: list[np.ndarray] = []
        # The compiled path, chosen once: it writes the KS subsample into one array.
        self.native: ModuleType | None = kernels.extension("_diagnose")
        wants_ks = self.native is not None and not self.moments_only
        self.ks_sample: np.ndarray | None = np.empty(-(-self.count // self.ks_stride)) if wants_ks else None
        self.ks_taken = 0
        rows = len(spec.shape) >= 2 and sample is None and not self.moments_only
        self.units = _Units(spec) if rows else None
        if self.units is not None:
            self.norm_sq = np.zeros(self.units.count)
            self.sampled, self.slot = self.units.sampled, self.units.slot
            self.rows = np.zeros((self.sampled.size, self.units.length))

    def _bound(self, value: float) -> float:
        return _rounded(self.dtype.name, value, math.copysign(1.0, value))

    @pinned
    def add(self, start: int, stored: np.ndarray) -> None:
        """Take the stored values of elements [start, start + len(stored)); calls must be in order.

        Values are regrouped into the fixed blocks [k * BLOCK, (k + 1) * BLOCK), so the report does
        not depend on how the caller chunks the stream.
        """
        if self.parts == 2:  # elements [start, ...) are parts [2 start, ...)
            start, stored = 2 * start, np.ascontiguousarray(stored).view(self.dtype.storage)
        if start != self.position:
            raise ValueError(f"diagnostics take chunks in order: expected element {self.position}, got {start}")
        flat = np.asarray(stored).reshape(-1)
        if self.native is not None and self.dtype.name in _RAW and flat.dtype in _RAW_STORAGE:
            values = np.ascontiguousarray(flat)  # the compiled pass reads float32 as is: converting is exact
        else:
            values = self.dtype.to_float64(flat)
        self.position = start + values.size
        complete = (self.position // BLOCK) * BLOCK
        if complete <= self.position - values.size - self._pending_size:
            # No block completes: keep the piece (joining pieces only when a block is whole keeps
            # many small pieces, like the header's 4096-element runs, linear in their total).
            self._pending.append(values.copy())
            self._pending_size += values.size
            return
        if self._pending:
            values = np.concatenate([*self._pending, values])
        block_start = self.position - values.size
        for lo in range(block_start, complete, BLOCK):
            checkpoint()  # diagnostics for a client that left stop here (service.core.cancel)
            self._block(lo, values[lo - block_start : lo - block_start + BLOCK])
        rest = values[max(complete, block_start) - block_start :]
        self._pending = [rest.copy()] if rest.size else []
        self._pending_size = rest.size

    def _block(self, start: int, x: np.ndarray) -> None:
        if self.native is not None:
            self._native_block(start, x)
            return
        finite = np.isfinite(x)
        if not finite.all():
            self.nonfinite += int(x.size - np.count_nonzero(finite))
            x = np.where(finite, x, self.center)
        d = x - self.center
        d2 = d * d
        self.blocks.append((float(tree_sum(d)), float(tree_sum(d2)), float(tree_sum(d2 * d)), float(tree_sum(d2 * d2))))
        self.minimum = min(self.minimum, float(x.min()))
        self.maximum = max(self.maximum, float(x.max()))
        if self.low is not None:
            self.outside += int(np.count_nonzero((x < self.low) | (x > self.high)))
        if not self.moments_only:
            first = -(-start // self.ks_stride) * self.ks_stride
            self.ks_parts.append(x[first - start :: self.ks_stride].copy())
        if self.units is not None:
            unit, pos = self.units.locate(np.arange(start, start + x.size))
            lo = int(unit.min())
            self.norm_sq[lo : int(unit.max()) + 1] += np.bincount(unit - lo, weights=x * x)
            slot = self.slot[unit]
            take = slot >= 0
            self.rows[slot[take], pos[take]] = x[take]

    def _native_block(self, start: int, x: np.ndarray) -> None:
        """_block in one compiled pass (the same sums, counts and rows, bit for bit)."""
        assert self.native is not None
        units = None
        if self.units is not None:
            u = self.units
            units = (int(u.torch), u.cols, self.norm_sq, self.slot, self.rows, u.length)
        bounds = None if self.low is None else (self.low, self.high)
        s1, s2, s3, s4, low, high, nonfinite, outside, taken = self.native.block(
            x, start, self.center, bounds, self.ks_stride, self.ks_sample, self.ks_taken, units
        )
        self.blocks.append((s1, s2, s3, s4))
        if low == 0.0 or high == 0.0:
            # Between -0.0 and 0.0 numpy's min and max pick by their own lane order: ask them.
            y = x.astype(np.float64)
            if nonfinite:
                y = np.where(np.isfinite(y), y, self.center)
            low, high = float(y.min()), float(y.max())
        self.minimum = min(self.minimum, low)
        self.maximum = max(self.maximum, high)
        self.nonfinite += nonfinite
        self.outside += outside
        self.ks_taken += taken

    @pinned
    def result(self, full: np.ndarray | None = None) -> dict[str, Any]:
        """The diagnostics report; ``full`` (float64, shaped) enables the whole-matrix checks."""
        n = self.position
        if n != self.count:
            raise ValueError(f"diagnostics saw {n} of {self.count} elements")
        if self._pending:
            rest = np.concatenate(self._pending)
            self._block(n - rest.size, rest)
            self._pending, self._pending_size = [], 0
        theory = self.theory
        s1, s2, s3, s4 = (_fsum(b[i] for b in self.blocks) for i in range(4))
        mean_d = s1 / n
        var = max(s2 / n - mean_d * mean_d, 0.0)
        std = math.sqrt(var)
        mean = self.center + mean_d
        report: dict[str, Any] = {
            "mean": mean,
            "std": std,
            "min": self.minimum,
            "max": self.maximum,
            "expected": {
                "distribution": theory.label,
                "mean": theory.mean,
                "std": theory.std,
                "low": self.low,
                "high": self.high,
                "kurtosis": theory.kurtosis,
            },
            "nonfinite": self.nonfinite,
            "outside_bounds": self.outside,
            "fraction_outside_bounds": self.outside / n,
        }
        if self.parts == 2:
            report["values"] = "the real and imaginary parts of every element, pooled"
        try:
            central4 = s4 / n - 4 * mean_d * s3 / n + 6 * mean_d**2 * s2 / n - 3 * mean_d**4
        except OverflowError:  # float ** raises where * would give inf: |mean| beyond about 1e77
            central4 = math.nan
        report["excess_kurtosis"] = central4 / (var * var) - 3.0 if var * var > 0 else None  # var^2 may underflow
        verdicts: list[dict[str, Any]] = []
        self._moment_tests(report, verdicts, n, mean, std)
        if not self.moments_only:
            self._ks_test(report, verdicts)
        if self.units is not None and self.units.count >= 2:
            self._row_tests(report, verdicts)
        elif self.count != self.spec.numel or self.moments_only:
            if self.count != self.spec.numel:
                report["sample"] = {"elements": self.count, "of": self.spec.numel}
            if len(self.spec.shape) >= 2 and theory.std == 0.0 and "exact" not in self.spec.plan.checks:
                verdicts.append(_verdict("symmetry", "fail", 1.0, "all rows identical: symmetry is never broken"))
        if full is not None and not self.moments_only:
            self._structure_tests(report, verdicts, full)
        if self.nonfinite:
            verdicts.append(
                _verdict(
                    "finite",
                    "fail",
                    self.nonfinite,
                    f"{self.nonfinite} values overflow {self.dtype.name}: {self.dtype.overflow}",
                )
            )
        if self.outside:
            verdicts.append(
                _verdict(
                    "support", "fail", self.outside, f"{self.outside} values outside [{self.low:g}, {self.high:g}]"
                )
            )
        report["verdicts"] = verdicts
        report["verdict"] = max((v["band"] for v in verdicts), key=_BANDS.index, default="healthy")
        return report

    def _moment_tests(
        self, report: dict[str, Any], verdicts: list[dict[str, Any]], n: int, mean: float, std: float
    ) -> None:
        theory = self.theory
        if theory.std == 0.0:
            return
        z = (mean - theory.mean) * math.sqrt(n) / theory.std
        ratio = std / theory.std
        kurtosis = theory.kurtosis if theory.kurtosis is not None else 3.0
        tolerance = 4.0 * 0.5 * math.sqrt(max(kurtosis - 1.0, 0.0) / n)
        report.update(mean_z=z, std_ratio=ratio, std_ratio_tolerance=tolerance)
        band = "healthy" if abs(z) < 4.0 else "warn"
        verdicts.append(
            _verdict("mean_z", band, z, f"mean z-score {z:.2f} ({'within' if band == 'healthy' else 'beyond'} +-4)")
        )
        band = "healthy" if abs(ratio - 1.0) < tolerance else "warn"
        verdicts.append(
            _verdict(
                "std_ratio",
                band,
                ratio,
                f"std {std:.6g} vs expected {theory.std:.6g}: ratio {ratio:.5f}, tolerance +-{tolerance:.2g}",
            )
        )

    def _ks_test(self, report: dict[str, Any], verdicts: list[dict[str, Any]]) -> None:
        if self.theory.cdf is None or self.nonfinite:
            return
        if self.ks_sample is not None:
            sample = self.ks_sample[: self.ks_taken]
        else:
            sample = np.concatenate(self.ks_parts)
        if "sparse" in self.spec.plan.checks:
            sample = sample[sample != 0.0]
        if sample.size < 20:
            return
        if self.dtype.name in QUANTIZED:
            assert self.theory.cdf is not None
            d = ks_statistic_rounded(sample, self.theory.cdf, self.dtype.name)
        elif self.native is not None:
            d = self._native_ks(self.native, sample)
        else:
            d = ks_statistic(sample, self.theory.cdf)
        p = ks_pvalue(d, sample.size)
        report["ks"] = {"statistic": d, "pvalue": p, "sample": int(sample.size)}
        band = "healthy" if p > 1e-4 else "warn"
        verdicts.append(_verdict("ks", band, d, f"KS D = {d:.4g} on {sample.size} values, p = {p:.3g}"))

    def _native_ks(self, native: ModuleType, sample: np.ndarray) -> float:
        """ks_statistic, compiled where the theory's CDF is one of distributions.py's three: the
        CDF in SIMD lanes, and only the values that can hold a maximum sorted."""
        args = _cdf_args(self.spec.plan, self.theory)
        if args is None:
            assert self.theory.cdf is not None
            return ks_statistic(sample, self.theory.cdf)
        above, below = native.ks(sample, *args)
        return float(max(above, below))

    def _row_tests(self, report: dict[str, Any], verdicts: list[dict[str, Any]]) -> None:
        assert self.units is not None
        norms = np.sqrt(self.norm_sq)
        norm_mean = _fsum(norms.tolist()) / norms.size
        norm_var = _fsum(((norms - norm_mean) ** 2).tolist()) / norms.size
        report["rows"] = {
            "count": self.units.count,
            "norm_mean": norm_mean,
            "norm_cv": math.sqrt(norm_var) / norm_mean if norm_mean else None,
        }
        rows = self.rows
        sampled = rows.shape[0]
        distinct = len({row.tobytes() for row in rows})  # exact equality, cheaper than np.unique
        report["rows"].update(sampled=sampled, duplicates=sampled - distinct)
        if "exact" in self.spec.plan.checks:
            return  # identity-like structure is the point: repeated or zero rows are by design
        if distinct == 1:
            verdicts.append(_verdict("symmetry", "fail", 1.0, "all rows identical: symmetry is never broken"))
            return
        coherence = self._coherence(rows)
        if coherence is None:
            report["rows"]["coherence"] = None
        else:
            # Independent random rows of length n reach about sqrt(4 ln m / n) among m rows.
            chance = math.sqrt(4.0 * math.log(sampled) / self.units.length)
            report["rows"].update(coherence=coherence, coherence_random=chance)
            healthy = max(0.5, 1.25 * chance)
            band = "healthy" if coherence < healthy else "warn" if coherence < 0.99 else "fail"
            verdicts.append(
                _verdict(
                    "coherence",
                    band,
                    coherence,
                    f"max |cos| between {sampled} sampled rows: {coherence:.3f} "
                    f"(independent random rows: about {chance:.3f})",
                )
            )
        if distinct < sampled:
            verdicts.append(
                _verdict(
                    "duplicates",
                    "fail",
                    sampled - distinct,
                    f"{sampled - distinct} of {sampled} sampled rows duplicate another",
                )
            )

    def _coherence(self, rows: np.ndarray) -> float | None:
        """max |cos| between the sampled rows (pinned dot products); None where a row is zero."""
        if self.native is not None:
            value: float | None = self.native.coherence(rows, rows.shape[0], rows.shape[1])
            return value
        row_norms = np.sqrt(tree_sum(rows * rows, axis=1))
        if np.any(row_norms == 0.0):
            return None
        unit = rows / row_norms[:, None]
        gram = np.abs(dot_rows(unit, unit))
        np.fill_diagonal(gram, 0.0)
        return float(gram.max())

    def _structure_tests(self, report: dict[str, Any], verdicts: list[dict[str, Any]], full: np.ndarray) -> None:
        checks = self.spec.plan.checks
        tolerance = ORTHOGONALITY_TOLERANCE[self.dtype.name]
        if "orthogonal" in checks:
            gain, axis = checks["orthogonal"]["gain"], checks["orthogonal"]["axis"]
            if "column_axis" in checks["orthogonal"]:  # the matrix's columns lie along that axis
                moved = np.moveaxis(full.reshape(self.spec.shape), checks["orthogonal"]["column_axis"], -1)
                m = moved.reshape(-1, moved.shape[-1])
            else:
                m = full.reshape(matrix_view(self.spec.shape, self.spec.layout))
            vectors = m if axis == "rows" else m.T
            pick = np.unique(
                (np.arange(min(ROW_SAMPLE, vectors.shape[0])) * vectors.shape[0]) // min(ROW_SAMPLE, vectors.shape[0])
            )
            sample = vectors[pick]
            gram = dot_rows(sample, sample) / (gain * gain)
            error = float(np.sqrt(tree_sum((gram - np.eye(pick.size)).reshape(-1) ** 2)) / math.sqrt(pick.size))
            report["orthogonality_error"] = error
            band = "healthy" if error < tolerance else "fail"
            verdicts.append(
                _verdict(
                    "orthogonality",
                    band,
                    error,
                    f"||W W^T / gain^2 - I||_F / sqrt(n) = {error:.2g} on {pick.size} {axis}",
                )
            )
        if "sparse" in checks:
            expected = checks["sparse"]["zeros_per_input"]
            u = full.reshape(matrix_view(self.spec.shape, self.spec.layout))
            per_input = np.count_nonzero(u == 0.0, axis=0 if self.spec.layout == "torch" else 1)
            wrong = int(np.count_nonzero(per_input < expected))
            report["sparse"] = {"zeros_per_input": expected, "min_zeros": int(per_input.min())}
            band = "healthy" if wrong == 0 else "fail"
            verdicts.append(
                _verdict("sparsity", band, wrong, f"{wrong} inputs with fewer than {expected} zero weights")
            )
        if "row_norm" in checks and self.units is not None:
            cv = report.get("rows", {}).get("norm_cv") or 0.0
            band = "healthy" if cv < tolerance else "fail"
            verdicts.append(
                _verdict("row_norms", band, cv, f"row norms vary by {cv:.2g} (all should equal {checks['row_norm']:g})")
            )


_BANDS = ["healthy", "warn", "fail"]
_RAW = ("float32", "float64")  # dtypes whose stored arrays the compiled pass reads directly
_RAW_STORAGE = (np.dtype("<f4"), np.dtype("<f8"))


def _verdict(check: str, band: str, value: float, reason: str) -> dict[str, Any]:
    return {"check": check, "band": band, "value": value, "reason": reason}


@pinned
def diagnose(spec: TensorSpec, seed: int) -> dict[str, Any]:
    """Generate ``spec`` chunk by chunk (bounded memory) and return its diagnostics."""
    acc = Accumulator(spec)
    span = BLOCK * 64
    for start in range(0, spec.numel, span):
        acc.add(start, generate(spec, seed, start, min(start + span, spec.numel)))
    full = None
    if not spec.plan.random_access or spec.plan.checks:
        full = spec.out_dtype.to_float64(generate(spec, seed)).reshape(spec.shape)
    return acc.result(full)
