"""safetensors files with canonical bytes, written by hand so they can be streamed.

The safetensors library serializes ``__metadata__`` in a per-process random order and cannot
stream; this writer fixes every choice instead:

    8 bytes    N, the header length, unsigned little-endian
    N bytes    compact JSON: {"__metadata__": {keys sorted}, tensors in data order}, each tensor
               {"dtype", "shape", "data_offsets"}; padded with spaces to a multiple of 8
    data       tensors in order of decreasing item size, then name (so every tensor is aligned
               to its item size, as the reference writer does), C order, little-endian

The header depends only on names, dtypes, shapes and metadata, so it can be written before any
value is generated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from .dtype_codes import CODES

__all__ = ["ITEMSIZE", "Entry", "Layout", "TensorBytes", "file_bytes", "file_pieces", "layout"]

# Every dtype safetensors defines, not only the generated ones: kept tensors of a transfer may be any.
ITEMSIZE: dict[str, int] = {code: entry.itemsize for code, entry in CODES.items()}


@dataclass(frozen=True)
class Entry:
    """One tensor of a file: its name, safetensors dtype code and shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        size = ITEMSIZE[self.dtype]
        for dim in self.shape:
            size *= dim
        return size


@dataclass(frozen=True)
class Layout:
    """Where everything sits in the file: the header bytes and each tensor's byte range."""

    header: bytes
    entries: tuple[Entry, ...]  # in data order
    offsets: Mapping[str, tuple[int, int]]  # name -> (begin, end) within the data section

    @property
    def size(self) -> int:
        """Total file size in bytes."""
        return len(self.header) + sum(e.nbytes for e in self.entries)

    def file_range(self, name: str) -> tuple[int, int]:
        """The tensor's byte range within the whole file."""
        begin, end = self.offsets[name]
        return len(self.header) + begin, len(self.header) + end


def layout(entries: Iterable[Entry], metadata: Mapping[str, str]) -> Layout:
    """The canonical layout of a file holding ``entries`` with string ``metadata``."""
    ordered = tuple(sorted(entries, key=lambda e: (-ITEMSIZE[e.dtype], e.name)))
    names = [e.name for e in ordered]
    if len(set(names)) != len(names) or "__metadata__" in names:
        raise ValueError("tensor names must be unique and not '__metadata__'")
    offsets: dict[str, tuple[int, int]] = {}
    header: dict[str, object] = {"__metadata__": {key: str(metadata[key]) for key in sorted(metadata)}}
    position = 0
    for entry in ordered:
        offsets[entry.name] = (position, position + entry.nbytes)
        header[entry.name] = {
            "dtype": entry.dtype,
            "shape": list(entry.shape),
            "data_offsets": [position, position + entry.nbytes],
        }
        position += entry.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    text += b" " * (-(len(text) + 8) % 8)
    return Layout(len(text).to_bytes(8, "little") + text, ordered, offsets)


TensorBytes = tuple[str, tuple[int, ...], bytes | Callable[[], bytes]]  # dtype code, shape, data (or its maker)


def file_pieces(tensors: Mapping[str, TensorBytes], metadata: Mapping[str, str]) -> Iterator[bytes]:
    """A whole file piece by piece: the header, then each tensor's little-endian bytes in file
    order. Data given as a function is made only when its turn comes, so a writer holds one
    tensor's bytes at a time."""
    plan = layout([Entry(name, code, shape) for name, (code, shape, _) in tensors.items()], metadata)
    yield plan.header
    for entry in plan.entries:
        data = tensors[entry.name][2]
        yield data() if callable(data) else data


def file_bytes(tensors: Mapping[str, TensorBytes], metadata: Mapping[str, str]) -> bytes:
    """A whole file from tensors already in memory: name -> (dtype code, shape, little-endian bytes)."""
    return b"".join(file_pieces(tensors, metadata))
