"""Output dtypes: one correctly rounded step from float64 to the stored format.

Values are generated in float64 and rounded once, to nearest with ties to even (RNE), straight to
the output format: never through float32 first, which would round twice. float32 uses the IEEE
conversion (correctly rounded in hardware). float16 and bfloat16 are rounded in float64 arithmetic
with exact power-of-two scalings and ``rint`` (an exact IEEE operation), then stored:

    e = max(floor(log2 |x|), e_min)          exponent, read from the float64 bits
    y = rint(x / 2**(e - m)) * 2**(e - m)    m = 10 (float16) or 7 (bfloat16) fraction bits
    |y| > max finite  ->  +-inf

Stored bytes are little-endian; bfloat16 is the high half of the float32 with the same value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .dtype_codes import by_name
from .errors import InitError

__all__ = ["DTYPES", "FLOAT_DTYPES", "DType", "get_dtype"]

_EXPONENT_SHIFT = np.uint64(52)


def _round_to_precision(
    x: NDArray[np.float64], fraction_bits: int, min_exponent: int, max_finite: float
) -> NDArray[np.float64]:
    """x rounded (RNE) to a binary format with the given fraction bits and minimum exponent."""
    biased = ((x.view(np.uint64) >> _EXPONENT_SHIFT) & np.uint64(0x7FF)).astype(np.int64)
    exponent = np.maximum(biased - 1023, min_exponent)  # zero/subnormal inputs land on e_min
    quantum_exponent = exponent - fraction_bits
    y: NDArray[np.float64] = np.ldexp(np.rint(np.ldexp(x, -quantum_exponent)), quantum_exponent)
    return np.where(np.abs(y) > max_finite, np.copysign(np.inf, y), y)


def _to_float16(x: np.ndarray) -> np.ndarray:
    return _round_to_precision(x, 10, -14, 65504.0).astype(np.float16).view(np.uint16)


_BF16_MAX = float.fromhex("0x1.fep+127")


def _to_bfloat16(x: np.ndarray) -> np.ndarray:
    exact = _round_to_precision(x, 7, -126, _BF16_MAX).astype(np.float32)
    return (exact.view(np.uint32) >> np.uint32(16)).astype(np.uint16)


def _to_float32(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32)


def _to_float64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _to_int64(x: np.ndarray) -> np.ndarray:
    return x.astype(np.int64)  # only constant integral schemes reach it (see TensorSpec.plan)


@dataclass(frozen=True)
class DType:
    """An output format: its name, safetensors code, storage and the rounding into it."""

    name: str
    safetensors: str
    itemsize: int
    storage: np.dtype
    finite_max: float

    def round(self, values: np.ndarray) -> np.ndarray:
        """float64 values -> stored representation (bit patterns for float16/bfloat16)."""
        return _ROUNDERS[self.name](np.ascontiguousarray(values, dtype=np.float64))

    def round_into(self, values: np.ndarray, out: np.ndarray) -> None:
        """Store the rounding of float64 ``values`` into ``out`` (one pass for float32/float64)."""
        if self.name in ("float32", "float64", "int64"):
            out[...] = values  # the IEEE conversion, as astype
        else:
            out[...] = self.round(values)

    def to_float64(self, stored: np.ndarray) -> np.ndarray:
        """Stored representation -> float64 values (exact)."""
        if self.name == "bfloat16":
            return (stored.astype(np.uint32) << np.uint32(16)).view(np.float32).astype(np.float64)
        if self.name == "float16":
            return stored.view(np.float16).astype(np.float64)
        return stored.astype(np.float64)

    def round_scalar(self, value: float) -> float:
        """A float64 scalar rounded to this format, as float64."""
        return float(self.to_float64(self.round(np.array([value])))[0])


_ROUNDERS = {
    "float32": _to_float32,
    "float64": _to_float64,
    "float16": _to_float16,
    "bfloat16": _to_bfloat16,
    "int64": _to_int64,
}


def _output(name: str, finite_max: float, *, bit_patterns: bool = False) -> DType:
    """The output format ``name``, its code and item size read from the safetensors table.
    ``bit_patterns``: stored as unsigned integers, because the rounding above produces the bits
    (numpy has no bfloat16, and its float16 conversion would round a second time)."""
    entry = by_name(name)
    if not entry.generated:
        raise RuntimeError(f"{name} is not marked as generated in service/core/dtype_codes.py")
    storage = entry.bits() if bit_patterns or entry.numpy is None else np.dtype(entry.numpy)
    return DType(name, entry.code, entry.itemsize, storage, finite_max)


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        _output("float32", float(np.finfo(np.float32).max)),
        _output("float64", float(np.finfo(np.float64).max)),
        _output("float16", 65504.0, bit_patterns=True),
        _output("bfloat16", _BF16_MAX, bit_patterns=True),
        # Only for counters such as BatchNorm's num_batches_tracked: constant integral values.
        _output("int64", float(2**63 - 1)),
    )
}
FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")


def get_dtype(name: str) -> DType:
    """The DType called ``name``, or an InitError listing the supported ones."""
    try:
        return DTYPES[name]
    except KeyError:
        allowed = ", ".join(DTYPES)
        raise InitError(
            f"dtype {name!r} is not supported; use one of {allowed}", param="dtype", allowed=allowed
        ) from None
