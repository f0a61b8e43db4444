"""Generate tensors: a validated spec in, stored values of any element range out.

Generation is a pure function of (seed, spec, element range). Ranges are split into chunks that
threads fill in parallel (numpy releases the GIL inside ufuncs); the chunking never changes a byte.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from . import parallel
from . import schemes as _schemes  # noqa: F401  (registers the catalogue)
from .bits import ALGORITHM, VERSION, derive_key
from .dtypes import FLOAT_DTYPES, DType, get_dtype
from .errors import InitError
from .fans import LAYOUTS, Fans
from .fpstate import pinned
from .registry import Context, Elementwise, Paired, Plan, get_scheme

__all__ = [
    "CHUNK",
    "COMPLEX_SCHEMES",
    "MAX_RANK",
    "MAX_WHOLE_ELEMENTS",
    "TensorSpec",
    "algorithm",
    "float64_values",
    "generate",
    "generate_block",
    "tensor",
]

CHUNK = 1 << 18  # elements per task: large enough to amortize numpy's per-call cost, measured best
MAX_RANK = 8
MAX_WHOLE_ELEMENTS = 1 << 25
# The schemes that draw complex values, as JAX's complex initializers (docs/ALGORITHM.md 8.1).
COMPLEX_SCHEMES = (
    "normal",
    "variance_scaling",
    "lecun_normal",
    "lecun_uniform",
    "zeros",
    "ones",
    "constant",
)  # schemes computed as a whole hold the tensor in float64: 256 MiB


@dataclass(frozen=True)
class TensorSpec:
    """One tensor to initialize: everything its bytes depend on, besides the seed."""

    name: str
    shape: tuple[int, ...]
    scheme: str
    params: Mapping[str, Any] = field(default_factory=dict)
    dtype: str = "float32"
    layout: str = "torch"
    fan_in: int | None = None
    fan_out: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(self.shape))
        object.__setattr__(self, "params", dict(self.params))

    @cached_property
    @pinned
    def plan(self) -> Plan:
        """The validated plan; raises InitError naming the bad field."""
        _check_shape(self.shape)
        if self.layout not in LAYOUTS:
            raise InitError(f"layout {self.layout!r} is not supported", param="layout", allowed=", ".join(LAYOUTS))
        for name, fan in (("fan_in", self.fan_in), ("fan_out", self.fan_out)):
            if fan is not None and (isinstance(fan, bool) or not isinstance(fan, int) or fan < 1):
                raise InitError(
                    f"{name} must be a positive integer, got {fan!r}", param=name, allowed="an integer >= 1"
                )
        fans = Fans(self.shape, self.layout, self.fan_in, self.fan_out)
        complex_ = self.out_dtype.parts == 2
        try:
            plan = get_scheme(self.scheme).plan(Context(self.shape, self.layout, fans, complex_), self.params)
        except InitError as error:
            raise (error if error.param in ("shape", "fan_in", "fan_out") else error.at("scheme")) from None
        if complex_ != isinstance(plan, Paired):
            raise InitError(
                f"{self.scheme} does not draw complex values; {self.dtype} takes {', '.join(COMPLEX_SCHEMES)} "
                "(and the framework words that are variance_scaling: he_*, glorot_*, lecun_* ...)",
                param="dtype",
                allowed=", ".join(FLOAT_DTYPES),
            )
        if not plan.random_access and self.numel > MAX_WHOLE_ELEMENTS:
            raise InitError(
                f"{self.scheme} computes the whole tensor at once, in memory; {self.numel:,} elements is more "
                f"than its limit of {MAX_WHOLE_ELEMENTS:,} (schemes with random access stream any size)",
                param="shape",
                allowed=f"at most {MAX_WHOLE_ELEMENTS:,} elements for this scheme",
            )
        if self.out_dtype.name == "int64":
            value = getattr(getattr(plan, "distribution", None), "value", None)
            if value is None or not float(value).is_integer():
                raise InitError(
                    f"dtype {self.dtype} holds only constant integers (zeros, ones, constant)",
                    param="dtype",
                    allowed=", ".join(FLOAT_DTYPES),
                )
        return plan

    @cached_property
    def out_dtype(self) -> DType:
        return get_dtype(self.dtype)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * self.out_dtype.itemsize

    def canonical(self) -> dict[str, Any]:
        """The spec with the scheme's canonical name and every parameter: what the bytes depend on."""
        scheme = get_scheme(self.scheme)
        spec: dict[str, Any] = {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "layout": self.layout,
            "scheme": {"name": scheme.name, **scheme.canonical(self.params)},
        }
        if self.fan_in is not None:
            spec["fan_in"] = self.fan_in
        if self.fan_out is not None:
            spec["fan_out"] = self.fan_out
        return spec


def _check_shape(shape: tuple[int, ...]) -> None:
    if len(shape) > MAX_RANK:
        raise InitError(f"shape has {len(shape)} dimensions", param="shape", allowed=f"at most {MAX_RANK} dimensions")
    for axis, dim in enumerate(shape):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise InitError(
                f"shape[{axis}] must be a positive integer, got {dim!r}",
                param=f"shape.{axis}",
                allowed="an integer >= 1",
            )


def algorithm() -> str:
    """The generation algorithm's name and version, as written into artifacts."""
    return f"{ALGORITHM}-v{VERSION}"


@pinned
def float64_values(spec: TensorSpec, seed: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Elements [start, stop) of the tensor before rounding to its dtype (float64)."""
    stop = spec.numel if stop is None else stop
    return _filled(spec, seed, start, stop, get_dtype("float64"))


@pinned
def generate(spec: TensorSpec, seed: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Elements [start, stop) of the tensor in C order, in its stored dtype (bit patterns for 16-bit floats)."""
    stop = spec.numel if stop is None else stop
    return _filled(spec, seed, start, stop, spec.out_dtype)


def tensor(spec: TensorSpec, seed: int) -> np.ndarray:
    """The whole tensor, shaped, in its stored dtype."""
    return generate(spec, seed).reshape(spec.shape)


@pinned
def generate_block(
    spec: TensorSpec, seed: int, index: Sequence[np.ndarray], out: np.ndarray | None = None
) -> np.ndarray:
    """The stored values of ``tensor[np.ix_(*index)]``, flat in C order: one global index array
    per dimension (a rank's shard: a block, strided rows, any selection along each axis).

    Only the selected elements are generated (schemes with random access): the selection is cut
    into runs of consecutive elements along the last axis, adjacent runs are joined, and each
    range is generated on its own, so a column shard of a [50257, 768] embedding costs its own
    elements, not the table. A scheme without random access computes its tensor once, whole.
    ``out``: a flat array of the stored dtype to write into (a torch tensor's memory, say).
    """
    if len(index) != len(spec.shape):
        raise ValueError(f"{len(index)} index arrays for a {len(spec.shape)}-dimensional tensor")
    index = [np.asarray(i, dtype=np.int64).reshape(-1) for i in index]
    if any(i.size == 0 for i in index):
        return np.empty(0, dtype=spec.out_dtype.storage) if out is None else out
    if not index or not spec.plan.random_access:
        whole = generate(spec, seed).reshape(spec.shape)
        block = np.ascontiguousarray(whole[np.ix_(*index)] if index else whole).reshape(-1)
        if out is None:
            return block
        out[...] = block
        return out
    last = index[-1]
    cut = np.flatnonzero(np.diff(last) != 1) + 1
    run_starts = last[np.concatenate(([0], cut))]
    run_lengths = np.diff(np.concatenate(([0], cut, [last.size])))
    lead = (
        np.ravel_multi_index(np.ix_(*index[:-1]), spec.shape[:-1]).reshape(-1)
        if len(index) > 1
        else np.zeros(1, np.int64)
    )
    starts = (lead[:, None] * spec.shape[-1] + run_starts[None, :]).reshape(-1)
    lengths = np.broadcast_to(run_lengths, (lead.size, run_lengths.size)).reshape(-1)
    joined = np.flatnonzero(starts[1:] != starts[:-1] + lengths[:-1]) + 1  # where a new range begins
    firsts = np.concatenate(([0], joined))
    begin = starts[firsts]
    end = np.add.reduceat(lengths, firsts) + begin
    # Ranges longer than CHUNK are cut at its multiples (as generate cuts), so the pool shares them.
    pieces = [
        (a, b) for lo, hi in zip(begin.tolist(), end.tolist(), strict=True) for a, b in parallel.ranges(lo, hi, CHUNK)
    ]
    plan, key, dtype = spec.plan, derive_key(seed, spec.name), spec.out_dtype
    total = int(lengths.sum())
    if out is None:
        out = np.empty(total, dtype=dtype.storage)
    elif out.shape != (total,) or out.dtype != dtype.storage:
        raise ValueError(f"out must be a flat {dtype.storage} array of {total} elements, got {out.dtype} {out.shape}")
    offsets = np.concatenate(([0], np.cumsum([b - a for a, b in pieces])))
    compiled = plan.fill_into if isinstance(plan, Elementwise) else None

    def fill(group: tuple[int, int]) -> None:
        for r in range(*group):
            lo, hi = pieces[r]
            _fill_range(plan, key, lo, out[offsets[r] : offsets[r] + hi - lo], dtype, compiled)

    per_group = max(1, -(-len(pieces) * CHUNK // max(total, 1)))  # about CHUNK elements per task
    parallel.each(fill, parallel.ranges(0, len(pieces), per_group))
    return out


def _fill_range(plan: Plan, key: int, lo: int, part: np.ndarray, dtype: DType, compiled: Any) -> None:
    """Elements lo .. lo + len(part) - 1 into ``part``: the compiled kernel where it covers them."""
    if compiled is None or not compiled(key, lo, part, dtype.name):
        dtype.round_into(plan.values(key, lo, lo + part.size), part)


def _filled(spec: TensorSpec, seed: int, start: int, stop: int, dtype: DType) -> np.ndarray:
    if not 0 <= start <= stop <= spec.numel:
        raise InitError(
            f"element range [{start}, {stop}) outside the tensor's {spec.numel} elements",
            param="range",
            allowed=f"0 <= start <= stop <= {spec.numel}",
        )
    plan, key = spec.plan, derive_key(seed, spec.name)
    out = np.empty(stop - start, dtype=dtype.storage)

    compiled = plan.fill_into if isinstance(plan, Elementwise) else None

    def fill(bounds: tuple[int, int]) -> None:
        lo, hi = bounds
        _fill_range(plan, key, lo, out[lo - start : hi - start], dtype, compiled)

    if not plan.random_access:
        plan.values(key, 0, 0)  # build the whole tensor once, before threads slice it
    parallel.each(fill, parallel.ranges(start, stop, CHUNK))
    return out
