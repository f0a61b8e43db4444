"""Sharded checkpoints in Hugging Face's layout: a request's tensors split over files of at most a
given size, ``model-00001-of-0000N.safetensors`` ..., and ``model.safetensors.index.json``.

The split is huggingface_hub's (``split_state_dict_into_shards_factory``, what ``save_pretrained``
uses), applied to the tensors in request order and their data bytes:

    a tensor larger than the maximum          a shard of its own, numbered when it is met (ahead
                                              of the shard being filled, as huggingface_hub does)
    a tensor that would overflow the shard    closes it; a new shard starts with the tensor
    otherwise                                 joins the shard being filled

A request with no tensors is one empty shard. Shards are numbered from 1 and named with five
digits, as transformers names them (so at most 99,999 shards); the index and the names exist even
for one shard, so every checkpoint has the same layout.

Each shard is an ordinary initw file (service.core.artifact) of its tensors: canonical header,
diagnostics, streamed in bounded memory, with two things in its metadata beyond what POST /init
writes: ``request`` is the canonical request of the shard's tensors (POST /init of it gives the same
tensor bytes), and ``checkpoint`` says which shard of which request it is (the SHA-256 of the whole
canonical request, which the index holds). A shard's bytes depend only on the request, the maximum
size and its number, so any process on any machine writes the same file.

The index is JSON as transformers writes it (two-space indent, sorted keys, a final newline):
``metadata.total_size`` is the bytes of tensor data of the whole checkpoint (what transformers
means by it, headers excluded), ``metadata.total_parameters`` the elements, and ``weight_map`` maps
every tensor to its file. Writing it generates nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cached_property
from typing import Any

from .artifact import Artifact, Request, build, plan
from .generate import algorithm

__all__ = [
    "FILE_PATTERN",
    "INDEX_NAME",
    "MAX_SHARDS",
    "MAX_SHARD_SIZE",
    "SHARD_NAME",
    "SIZE_PATTERN",
    "SIZE_UNITS",
    "Checkpoint",
    "checkpoint",
    "parse_size",
    "shard_name",
    "split",
]

INDEX_NAME = "model.safetensors.index.json"
SHARD_NAME = re.compile(r"^model-([0-9]{5})-of-([0-9]{5})\.safetensors$")
MAX_SHARDS = 99_999  # five digits
MAX_SHARD_SIZE = 2**53 - 1  # a size any JSON reader keeps exact
# Decimal units as huggingface_hub reads them ("5GB" is 5 * 10**9 bytes), and their binary kin.
SIZE_UNITS = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
_SIZE = re.compile(r"^\s*([0-9]{1,20}(?:\.[0-9]{1,20})?)\s*([A-Za-z]{0,3})\s*$", re.ASCII)
# The same text as a JSON Schema pattern (the OpenAPI contract): the units spelled out in any case.
# Whether its number is a whole count of bytes from 1 to MAX_SHARD_SIZE is checked after it.
_SPACE = r"[ \t\n\r\f\v]*"  # Python's ASCII \s
_UNITS = "|".join(sorted("".join(f"[{c}{c.lower()}]" if c.isalpha() else c for c in unit) for unit in SIZE_UNITS))
SIZE_PATTERN = rf"^{_SPACE}[0-9]{{1,20}}(\.[0-9]{{1,20}})?{_SPACE}({_UNITS})?{_SPACE}$"
# The files of a checkpoint: a shard (SHARD_NAME) or the index.
FILE_PATTERN = rf"^(model-[0-9]{{5}}-of-[0-9]{{5}}\.safetensors|{re.escape(INDEX_NAME)})$"


def parse_size(size: str | int) -> int:
    """A maximum shard size in bytes: an integer, or text such as ``5GB``, ``500MB``, ``2GiB``,
    ``1.5GB``, ``1000000`` (decimal units are powers of 10, as huggingface_hub reads them; ``KiB``,
    ``MiB``, ``GiB``, ``TiB`` powers of 2; case is ignored). ValueError says what is wrong."""
    if isinstance(size, bool):
        raise ValueError("a size is a number of bytes, not a boolean")
    if isinstance(size, int):
        value = size
    else:
        found = _SIZE.match(size) if len(size) <= 64 else None
        if found is None:
            raise ValueError(f"{size[:40]!r} is not a size: a number and an optional unit, e.g. 5GB, 500MB, 2GiB")
        number, unit = found.group(1), (found.group(2).upper() or "B")
        if unit not in SIZE_UNITS:
            raise ValueError(f"unknown unit {found.group(2)!r}: one of B, KB, MB, GB, TB, KiB, MiB, GiB, TiB")
        exact = Decimal(number) * SIZE_UNITS[unit]
        if exact != exact.to_integral_value():
            raise ValueError(f"{size.strip()!r} is {exact} bytes: not a whole number of bytes")
        value = int(exact)
    if not 1 <= value <= MAX_SHARD_SIZE:
        raise ValueError(f"a shard size is 1 to {MAX_SHARD_SIZE:,} bytes, got {value:,}")
    return value


def shard_name(shard: int, shards: int) -> str:
    """``model-00002-of-00005.safetensors``: shard ``shard`` (from 1) of ``shards``."""
    if not 1 <= shard <= shards <= MAX_SHARDS:
        raise ValueError(f"shard {shard} of {shards}: shards are numbered 1 to {shards} (at most {MAX_SHARDS})")
    return f"model-{shard:05d}-of-{shards:05d}.safetensors"


def split(sizes: Sequence[tuple[str, int]], limit: int) -> list[list[str]]:
    """The names of each shard, for (name, bytes) in order and a maximum of ``limit`` bytes per
    shard: huggingface_hub's rule (this module's docstring). At least one shard, maybe empty."""
    shards: list[list[str]] = []
    current: list[str] = []
    used = 0
    for name, size in sizes:
        if size > limit:
            shards.append([name])
            continue
        if used + size > limit:
            shards.append(current)
            current, used = [], 0
        current.append(name)
        used += size
    if current or not shards:
        shards.append(current)
    return shards


@dataclass(frozen=True)
class Checkpoint:
    """A request split into shards of at most ``shard_size`` bytes of tensor data each (a tensor
    larger than that alone in its shard). Shards are numbered from 1."""

    request: Request
    shard_size: int
    shards: tuple[tuple[str, ...], ...]  # tensor names of each shard, in request order

    @property
    def count(self) -> int:
        return len(self.shards)

    @property
    def files(self) -> tuple[str, ...]:
        """Every shard's file name, in order."""
        return tuple(shard_name(k, self.count) for k in range(1, self.count + 1))

    def file(self, shard: int) -> str:
        """The file name of shard ``shard`` (from 1); ValueError outside 1 .. count."""
        return shard_name(shard, self.count)

    def shard_of(self, filename: str) -> int | None:
        """The number of the shard called ``filename`` in this checkpoint, or None."""
        found = SHARD_NAME.match(filename)
        if found is None or int(found.group(2)) != self.count or not 1 <= int(found.group(1)) <= self.count:
            return None
        return int(found.group(1))

    @cached_property
    def _nbytes(self) -> dict[str, int]:
        return {spec.name: self.request.entry(spec).nbytes for spec in self.request.tensors}

    @property
    def total_size(self) -> int:
        """Bytes of tensor data in the whole checkpoint (what transformers' index calls total_size)."""
        return sum(self._nbytes.values())

    @property
    def total_parameters(self) -> int:
        return self.request.numel

    @cached_property
    def request_sha256(self) -> str:
        """SHA-256 (hex) of the whole canonical request: what every shard's header names."""
        return hashlib.sha256(self.request.canonical_json.encode("ascii")).hexdigest()

    def weight_map(self) -> dict[str, str]:
        """Tensor name -> its file, in request order."""
        files = self.files
        return {name: files[k] for k, names in enumerate(self.shards) for name in names}

    def index(self) -> dict[str, Any]:
        """``model.safetensors.index.json`` as an object: ``metadata`` (total_size and
        total_parameters as transformers writes them; the algorithm, the canonical request and its
        SHA-256, the shard size and count) and ``weight_map``."""
        return {
            "metadata": {
                "algorithm": algorithm(),
                "request": self.request.canonical_json,
                "request_sha256": self.request_sha256,
                "shard_size": self.shard_size,
                "shards": self.count,
                "total_parameters": self.total_parameters,
                "total_size": self.total_size,
            },
            "weight_map": self.weight_map(),
        }

    def index_bytes(self) -> bytes:
        """The index file: JSON as transformers writes it (indent 2, sorted keys, a final newline), ASCII."""
        return (json.dumps(self.index(), indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")

    def shard_request(self, shard: int) -> Request:
        """The request of shard ``shard``'s file: its tensors (in request order), their kept bytes
        and header choices, and which shard of which checkpoint it is."""
        names = self.shards[shard - 1] if 1 <= shard <= self.count else None
        if names is None:
            raise ValueError(f"shard {shard}: this checkpoint has shards 1 to {self.count}")
        wanted = set(names)
        return replace(
            self.request,
            tensors=tuple(t for t in self.request.tensors if t.name in wanted),
            kept={n: v for n, v in self.request.kept.items() if n in wanted},
            header={n: v for n, v in self.request.header.items() if n in wanted},
            checkpoint={
                "file": self.file(shard),
                "request_sha256": self.request_sha256,
                "shard": shard,
                "shard_size": self.shard_size,
                "shards": self.count,
                "total_size": self.total_size,
            },
        )

    def shard_numel(self, shard: int) -> int:
        """Elements generated to make shard ``shard`` (kept tensors included)."""
        return self.shard_request(shard).numel

    def shard(self, shard: int) -> Artifact:
        """Shard ``shard``'s file, streamed: only the header's samples are computed now, the
        tensors piece by piece as ``read()`` reaches them (bounded memory)."""
        return plan(self.shard_request(shard))

    def build_shard(self, shard: int) -> Artifact:
        """Shard ``shard``'s file with its tensors generated into memory (the same bytes)."""
        return build(self.shard_request(shard))


def checkpoint(request: Request, shard_size: int) -> Checkpoint:
    """The checkpoint of ``request`` in shards of at most ``shard_size`` bytes of tensor data;
    ValueError for a size below 1 byte or a split into more than MAX_SHARDS files."""
    if not 1 <= shard_size <= MAX_SHARD_SIZE:
        raise ValueError(f"a shard size is 1 to {MAX_SHARD_SIZE:,} bytes, got {shard_size:,}")
    sizes = [(spec.name, request.entry(spec).nbytes) for spec in request.tensors]
    shards = split(sizes, shard_size)
    if len(shards) > MAX_SHARDS:
        raise ValueError(
            f"{shard_size:,} bytes per shard makes {len(shards):,} shards; the file names have room for "
            f"{MAX_SHARDS:,}: ask for larger shards"
        )
    return Checkpoint(request, shard_size, tuple(tuple(names) for names in shards))
