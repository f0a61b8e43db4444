"""Output dtypes: one correctly rounded step from float64 to the stored format.

Values are generated in float64 and rounded once, to nearest with ties to even (RNE), straight to
the output format: never through float32 first, which would round twice. float32 uses the IEEE
conversion (correctly rounded in hardware). float16 and bfloat16 are rounded in float64 arithmetic
with exact power-of-two scalings and ``rint`` (an exact IEEE operation), then stored:

    e = max(floor(log2 |x|), e_min)          exponent, read from the float64 bits
    y = rint(x / 2**(e - m)) * 2**(e - m)    m = 10 (float16) or 7 (bfloat16) fraction bits
    |y| > max finite  ->  +-inf

Stored bytes are little-endian; bfloat16 is the high half of the float32 with the same value.

float8_e4m3fn (m = 3, e_min = -6, max 448) and float8_e5m2 (m = 2, e_min = -14, max 57344) round
the same way, one step from float64, and store the byte of y (sign, biased exponent, fraction; a
subnormal y as y / 2**(e_min - m)). Beyond max, as ml_dtypes converts float64: e5m2 stores +-inf
(0x7c, 0xfc); e4m3fn has no infinity and stores its NaN of the value's sign (0x7f, 0xff).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .dtype_codes import by_name
from .errors import InitError

__all__ = ["COMPLEX_DTYPES", "DTYPES", "FLOAT_DTYPES", "DType", "get_dtype"]

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


def _float8_bits(
    x: np.ndarray, fraction_bits: int, min_exponent: int, max_finite: float, overflow: int
) -> NDArray[np.uint8]:
    """The float8 byte of x rounded once (RNE): ``overflow`` (0x7c inf, 0x7f NaN) beyond max."""
    y = _round_to_precision(x, fraction_bits, min_exponent, max_finite)
    bits = y.view(np.uint64)
    sign = ((bits >> np.uint64(56)) & np.uint64(0x80)).astype(np.uint8)
    magnitude = np.abs(y)
    # A normal y: its float64 exponent and top fraction bits, the exponent rebiased (e_min -> 1).
    top = (bits & np.uint64(0x7FFFFFFFFFFFFFFF)) >> np.uint64(52 - fraction_bits)
    rebias = np.uint64((1023 + min_exponent - 1) << fraction_bits)
    normal = top - np.minimum(top, rebias)
    # A subnormal y (or zero): an integer multiple of 2**(e_min - m), exact.
    sub = np.ldexp(np.where(magnitude < 2.0**min_exponent, magnitude, 0.0), fraction_bits - min_exponent)
    code = np.where(magnitude < 2.0**min_exponent, sub.astype(np.uint64), normal)
    code = np.where(np.isinf(y), np.uint64(overflow), code)
    return code.astype(np.uint8) | sign


def _float8_table(fraction_bits: int, bias: int, nan_only: bool) -> NDArray[np.float64]:
    """The float64 value of each of the 256 bytes (exact), without ml_dtypes."""
    code = np.arange(256, dtype=np.int64)
    fraction = code & ((1 << fraction_bits) - 1)
    exponent = (code >> fraction_bits) & ((1 << (7 - fraction_bits)) - 1)
    value = np.where(
        exponent == 0,
        np.ldexp(fraction.astype(np.float64), 1 - bias - fraction_bits),
        np.ldexp((fraction + (1 << fraction_bits)).astype(np.float64), exponent - bias - fraction_bits),
    )
    top = (1 << (7 - fraction_bits)) - 1
    if nan_only:  # e4m3fn: S.1111.111 is NaN, every other code finite
        value = np.where((code & 0x7F) == 0x7F, np.nan, value)
    else:  # e5m2: exponent all ones is inf (fraction 0) or NaN, as IEEE
        value = np.where(exponent == top, np.where(fraction == 0, np.inf, np.nan), value)
    value = np.where(code & 0x80, -value, value)
    value.setflags(write=False)
    return value


_E4M3_MAX = 448.0
_E5M2_MAX = 57344.0


def _to_e4m3fn(x: np.ndarray) -> np.ndarray:
    return _float8_bits(x, 3, -6, _E4M3_MAX, 0x7F)  # beyond max: NaN (no infinity)


def _to_e5m2(x: np.ndarray) -> np.ndarray:
    return _float8_bits(x, 2, -14, _E5M2_MAX, 0x7C)  # beyond max: +-inf


_FLOAT8 = {  # name: (the value of each byte, the rounding)
    "float8_e4m3fn": (_float8_table(3, 7, nan_only=True), _to_e4m3fn),
    "float8_e5m2": (_float8_table(2, 15, nan_only=False), _to_e5m2),
}


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
    overflow: str = "inf"  # what a value beyond finite_max becomes: inf, or nan (float8_e4m3fn)
    parts: int = 1  # 2 for complex: each element is a real and an imaginary part

    @property
    def part(self) -> DType:
        """The format of each part (float32 for complex64; itself for a real format)."""
        return DTYPES["float32"] if self.parts == 2 else self

    def round(self, values: np.ndarray) -> np.ndarray:
        """float64 values -> stored representation (bit patterns for float16/bfloat16)."""
        if self.parts == 2:
            with np.errstate(over="ignore"):  # a part beyond float32's range is inf, as IEEE says
                return np.asarray(values, dtype=np.complex128).astype(np.complex64)
        return _ROUNDERS[self.name](np.ascontiguousarray(values, dtype=np.float64))

    def round_into(self, values: np.ndarray, out: np.ndarray) -> None:
        """Store the rounding of float64 ``values`` into ``out`` (one pass for float32/float64)."""
        if self.parts == 2:
            with np.errstate(over="ignore"):  # each part's IEEE conversion; beyond the range, inf
                out[...] = values
        elif self.name in ("float32", "float64", "int64"):
            out[...] = values  # the IEEE conversion, as astype
        else:
            out[...] = self.round(values)

    def to_float64(self, stored: np.ndarray) -> np.ndarray:
        """Stored representation -> float64 values (exact); complex: the parts, real and imaginary
        of each element in turn (twice as many values)."""
        if self.parts == 2:
            return np.ascontiguousarray(stored).view(np.float32).astype(np.float64)
        if self.name == "bfloat16":
            return (stored.astype(np.uint32) << np.uint32(16)).view(np.float32).astype(np.float64)
        if self.name == "float16":
            return stored.view(np.float16).astype(np.float64)
        if self.name in _FLOAT8:
            table: NDArray[np.float64] = _FLOAT8[self.name][0][np.asarray(stored).view(np.uint8)]
            return table
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
    **{name: rounder for name, (_, rounder) in _FLOAT8.items()},
}


def _output(
    name: str, finite_max: float, *, bit_patterns: bool = False, overflow: str = "inf", parts: int = 1
) -> DType:
    """The output format ``name``, its code and item size read from the safetensors table.
    ``bit_patterns``: stored as unsigned integers, because the rounding above produces the bits
    (numpy has no bfloat16, and its float16 conversion would round a second time)."""
    entry = by_name(name)
    if not entry.generated:
        raise RuntimeError(f"{name} is not marked as generated in service/core/dtype_codes.py")
    storage = entry.bits() if bit_patterns or entry.numpy is None else np.dtype(entry.numpy)
    return DType(name, entry.code, entry.itemsize, storage, finite_max, overflow, parts)


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        _output("float32", float(np.finfo(np.float32).max)),
        _output("float64", float(np.finfo(np.float64).max)),
        _output("float16", 65504.0, bit_patterns=True),
        _output("bfloat16", _BF16_MAX, bit_patterns=True),
        # Only for counters such as BatchNorm's num_batches_tracked: constant integral values.
        _output("int64", float(2**63 - 1)),
        _output("float8_e4m3fn", _E4M3_MAX, bit_patterns=True, overflow="nan"),
        _output("float8_e5m2", _E5M2_MAX, bit_patterns=True),
        # Each part rounded once from float64 to float32 (the IEEE conversion).
        _output("complex64", float(np.finfo(np.float32).max), parts=2),
    )
}
FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")
COMPLEX_DTYPES = ("complex64",)


def get_dtype(name: str) -> DType:
    """The DType called ``name``, or an InitError listing the supported ones."""
    try:
        return DTYPES[name]
    except KeyError:
        allowed = ", ".join(DTYPES)
        why = _UNSTORED.get(name, "is not supported")
        raise InitError(f"dtype {name!r} {why}; use one of {allowed}", param="dtype", allowed=allowed) from None


_UNSTORED = {
    "complex128": "cannot be stored: safetensors defines no complex128 code (its only complex type is C64)",
}
