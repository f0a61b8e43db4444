"""Generate tensors: a validated spec in, stored values of any element range out.

Generation is a pure function of (seed, spec, element range). Ranges are split into chunks that
threads fill in parallel (numpy releases the GIL inside ufuncs); the chunking never changes a byte.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
        part = out[lo - start : hi - start]
        if compiled is None or not compiled(key, lo, part, dtype.name):
            dtype.round_into(plan.values(key, lo, hi), part)

    if not plan.random_access:
        plan.values(key, 0, 0)  # build the whole tensor once, before threads slice it
    parallel.each(fill, parallel.ranges(start, stop, CHUNK))
    return out
