"""The safetensors dtype codes: the one table the writer, the reader, dtypes and the client read.

A safetensors header names each tensor's element type by a code ("F32", "BF16", "F8_E4M3", ...).
initw generates seven of them; an uploaded file (transfer) may hold any, and its bytes are kept.
numpy has no bfloat16 or fp8 types: for those the table names the ml_dtypes type instead, which
readers use when ml_dtypes is installed.

This module imports only numpy: the Python client imports it and must stay light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CODES", "DTypeCode", "by_name"]


@dataclass(frozen=True)
class DTypeCode:
    """One safetensors dtype: its code, readable name, item size and how numpy reads its bytes."""

    code: str
    name: str  # numpy's name, or ml_dtypes' for the formats numpy lacks
    itemsize: int
    numpy: str | None  # the numpy dtype of the little-endian values; None where numpy has none
    ml_dtypes: str | None = None  # the ml_dtypes type where numpy has none
    generated: bool = False  # initw generates values in it (service/core/dtypes.py)

    def bits(self) -> np.dtype[np.unsignedinteger[Any]]:
        """The unsigned integer dtype of the raw bit patterns, one per element."""
        return np.dtype(f"<u{self.itemsize}")


# In the order the reader lists them when it refuses a code.
CODES: dict[str, DTypeCode] = {
    entry.code: entry
    for entry in (
        DTypeCode("F64", "float64", 8, "<f8", generated=True),
        DTypeCode("F32", "float32", 4, "<f4", generated=True),
        DTypeCode("F16", "float16", 2, "<f2", generated=True),
        DTypeCode("BF16", "bfloat16", 2, None, "bfloat16", generated=True),
        DTypeCode("I64", "int64", 8, "<i8", generated=True),  # counters such as num_batches_tracked
        DTypeCode("BOOL", "bool", 1, "|b1"),
        DTypeCode("U8", "uint8", 1, "|u1"),
        DTypeCode("I8", "int8", 1, "|i1"),
        DTypeCode("I16", "int16", 2, "<i2"),
        DTypeCode("U16", "uint16", 2, "<u2"),
        DTypeCode("I32", "int32", 4, "<i4"),
        DTypeCode("U32", "uint32", 4, "<u4"),
        DTypeCode("U64", "uint64", 8, "<u8"),
        DTypeCode("F8_E5M2", "float8_e5m2", 1, None, "float8_e5m2", generated=True),
        DTypeCode("F8_E4M3", "float8_e4m3fn", 1, None, "float8_e4m3fn", generated=True),
        # Two float32 parts, real then imaginary: the format's only complex code (no C128).
        DTypeCode("C64", "complex64", 8, "<c8", generated=True),
    )
}

_BY_NAME = {entry.name: entry for entry in CODES.values()}


def by_name(name: str) -> DTypeCode:
    """The entry whose readable name is ``name`` (float32, bfloat16, ...); KeyError if none."""
    return _BY_NAME[name]
