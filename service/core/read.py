"""Read client-supplied safetensors files: parsed as safetensors only, every field validated.

Nothing is unpickled or executed and no path is opened: the input is bytes. The checks follow
the reference loader (header length, JSON object, known dtypes, integer shapes, contiguous
offsets that cover the data exactly), so a file this accepts is one the stock loaders accept.
"""

from __future__ import annotations

import binascii
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from . import cancel, parallel, unique_json
from .dtype_codes import CODES
from .dtypes import DTYPES
from .errors import InitError

__all__ = ["BASE64_PIECE", "MAX_HEADER", "Stored", "dtype_name", "from_base64", "read"]

MAX_HEADER = 100_000_000  # the reference loader's limit
BASE64_PIECE = 1 << 18  # characters decoded in one call (a multiple of 4): ~1 ms
# A checkpoint may hold any dtype safetensors defines (masks, counters, fp8 weights); transfer keeps
# their bytes. The dtypes the service generates are read back through their own exact conversion;
# the others only if numpy has a type for them. fp8 (generated too) is read exactly by float64(),
# but is not ``readable``: the upload paths (network inputs, kept-tensor summaries) take no fp8, and
# no complex64 (whose float64() is its parts, shape (*shape, 2)).
_GENERATED = {d.safetensors: d for d in DTYPES.values()}
_NOT_UPLOADED = ("F8_E4M3", "F8_E5M2", "C64")


def dtype_name(code: str) -> str:
    """The dtype's name (float32, bfloat16, int8, ...) for a safetensors code."""
    return CODES[code].name


@dataclass(frozen=True)
class Stored:
    """One tensor of an uploaded file: its dtype code, shape and raw little-endian bytes."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    data: bytes

    @property
    def readable(self) -> bool:
        """Whether the upload paths use the values (not the fp8 formats, which float64() reads)."""
        return self.dtype not in _NOT_UPLOADED and (self.dtype in _GENERATED or CODES[self.dtype].numpy is not None)

    def float64(self) -> NDArray[np.float64]:
        """The values as float64 (exact for the float dtypes; integers beyond 2^53 round; complex64:
        the real and imaginary parts along a last axis of 2)."""
        if self.dtype in _GENERATED:
            dtype = _GENERATED[self.dtype]
            parts = (2,) if dtype.parts == 2 else ()
            return dtype.to_float64(np.frombuffer(self.data, dtype=dtype.storage)).reshape((*self.shape, *parts))
        storage = CODES[self.dtype].numpy
        if storage is None:
            raise InitError(f"tensor {self.name!r} is {dtype_name(self.dtype)}, which is not read as values here")
        return np.frombuffer(self.data, dtype=storage).astype(np.float64).reshape(self.shape)


def from_base64(text: str, field: str) -> bytes:
    """The bytes of a base64 upload, or an InitError naming ``field``. Strict RFC 4648, exactly
    what ``base64.b64decode(text, validate=True)`` takes, but decoded BASE64_PIECE characters at a
    time: one call for 60 MB would hold the interpreter ~200 ms, and every other thread with it."""
    # Pieces before the last are whole quartets without padding; the last starts a quartet before
    # the first "=", so it begins with data as the whole text does (strict mode treats padding at
    # the very start differently).
    padding = text.find("=")
    tail = max(0, (len(text) if padding < 0 else padding) // 4 * 4 - 4)
    cuts = [*range(0, tail, BASE64_PIECE), tail, len(text)]
    pieces = []
    with parallel.one_at_a_time():
        try:
            for start, stop in zip(cuts[:-1], cuts[1:], strict=True):
                cancel.checkpoint()
                pieces.append(binascii.a2b_base64(text[start:stop].encode("ascii"), strict_mode=True))
        except (binascii.Error, ValueError):
            raise InitError(f"{field} is not base64", param=field, allowed="base64 of a safetensors file") from None
        return b"".join(pieces)


def _bad(field: str, message: str) -> InitError:
    return InitError(f"not a valid safetensors file: {message}", param=field, allowed="a safetensors file")


def read(blob: bytes, field: str = "file") -> tuple[dict[str, Stored], dict[str, str]]:
    """The tensors and metadata of a safetensors file, or an InitError naming ``field``."""
    if len(blob) < 8:
        raise _bad(field, "shorter than its 8-byte header length")
    size = int.from_bytes(blob[:8], "little")
    if size > MAX_HEADER or 8 + size > len(blob):
        raise _bad(field, f"header length {size} does not fit the {len(blob)}-byte file")
    try:
        header = unique_json.loads(blob[8 : 8 + size].decode("utf-8"))
    except unique_json.DuplicateKey as duplicate:
        raise _bad(field, f"the header names {duplicate.key!r} twice in one object ({duplicate.dotted})") from None
    except (ValueError, RecursionError) as error:
        # JSONDecodeError and UnicodeDecodeError are ValueErrors, and so is what int() raises for
        # a number of more than 4300 digits (sys.set_int_max_str_digits).
        raise _bad(field, f"the header is not JSON ({error.__class__.__name__})") from None
    if not isinstance(header, dict):
        raise _bad(field, "the header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _bad(field, "__metadata__ must map strings to strings")
    data = blob[8 + size :]
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) - {"dtype", "shape", "data_offsets"}:
            raise _bad(field, f"tensor {name!r} must have dtype, shape and data_offsets")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in CODES:  # a list or object is not hashable
            raise _bad(field, f"tensor {name!r} has dtype {dtype!r}; safetensors defines {', '.join(CODES)}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise _bad(field, f"tensor {name!r} has an invalid shape {shape!r}")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets):
            raise _bad(field, f"tensor {name!r} has invalid data_offsets {offsets!r}")
        begin, end = offsets
        if end - begin != math.prod(shape) * CODES[dtype].itemsize:
            raise _bad(field, f"tensor {name!r}: {end - begin} bytes for shape {shape} of {dtype}")
        entries.append((begin, end, name, dtype, tuple(shape)))
    position = 0
    tensors = {}
    for begin, end, name, dtype, shape in sorted(entries):
        if begin != position:
            raise _bad(field, f"tensor {name!r} starts at {begin}, not at {position}: holes or overlaps")
        tensors[name] = Stored(name, dtype, shape, data[begin:end])
        position = end
    if position > len(data):
        raise _bad(field, f"truncated: the data section ends {position - len(data)} bytes before the last tensor does")
    if position < len(data):
        raise _bad(field, f"{len(data) - position} bytes after the last tensor")
    return tensors, metadata
