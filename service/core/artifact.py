"""An artifact: the tensors of one request as a canonical safetensors file, with diagnostics.

The file is a pure function of the canonical request, header included: algorithm, seed,
canonical request and a diagnostics summary per tensor, serialized deterministically. The
header never needs the whole tensor, so any byte range of the file can be produced alone:

    summary of a tensor of n elements   n <= 2^20: every element (moments, KS, rows, structure)
                                        n >  2^20: 256 evenly spaced runs of 4096 elements
                                                   (moments, KS, support; marked "sample")

A tensor whose request asks for ``"header": "moments"`` gets a lighter summary from the same
elements: the moments, extremes and counts of one pass and their verdicts, no KS test, no row or
structure checks (marked ``"header": "moments"``). The choice is part of the canonical request
(its tensor entry says ``"header": "moments"``; the default, "full", is left out, so v1's files
keep their bytes): the file is as reproducible as any other, and its ETag differs.

A file is produced either from tensors held in memory (one generation pass) or streamed piece
by piece (bounded memory): the bytes are the same.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .cancel import checkpoint
from .diagnose import BLOCK, CHECKS, Accumulator, diagnose
from .fpstate import pinned
from .generate import TensorSpec, algorithm, generate
from .pinned import tree_sum
from .read import Stored, dtype_name
from .write import Entry, Layout, layout

__all__ = [
    "BASE_WORKING_BYTES",
    "HEADERS",
    "PIECE_BYTES_PER_ELEMENT",
    "SAMPLE_LIMIT",
    "SAMPLE_RUNS",
    "STREAM_ELEMENTS",
    "WHOLE_BYTES_PER_ELEMENT",
    "Artifact",
    "Request",
    "build",
    "canonical_json",
    "diagnose_stored",
    "diagnostics_report",
    "header_summary",
    "kept_summary",
    "plan",
    "sample_runs",
    "summary",
    "tensor_bytes",
    "working_bytes",
]

SAMPLE_LIMIT = 1 << 20
SAMPLE_RUNS = 256
STREAM_ELEMENTS = 1 << 21  # elements generated per piece while streaming: memory stays ~16-32 MiB
HEADERS = CHECKS  # what a tensor's header summary holds: "full" (v1's default) or "moments"


@dataclass(frozen=True)
class Request:
    """A validated request: a seed and tensors with unique names, in request order. ``kept``
    holds uploaded tensors that replace generated ones byte for byte (transfer)."""

    seed: int
    tensors: tuple[TensorSpec, ...]
    kept: Mapping[str, Stored] = field(default_factory=dict)
    transfer: Mapping[str, Any] | None = None  # what happened to an uploaded file's tensors
    notes: Mapping[str, Any] | None = None  # an architecture preset's derived figures, for the metadata
    header: Mapping[str, str] = field(default_factory=dict)  # tensor name -> one of HEADERS, where not "full"
    # What the requester should know (a name its layout's framework reads otherwise): never in the
    # canonical request, so never in the file's bytes.
    warnings: tuple[str, ...] = ()
    # Which shard of which sharded checkpoint this file is (service.core.checkpoint), for the metadata.
    checkpoint: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for name, choice in self.header.items():
            if choice not in HEADERS:
                raise ValueError(f"header of {name!r} must be one of {HEADERS}, got {choice!r}")

    def header_of(self, name: str) -> str:
        """What the header's summary of tensor ``name`` holds: "full" or "moments"."""
        return self.header.get(name, "full")

    def canonical(self) -> dict[str, Any]:
        """Everything the bytes depend on, with every default made explicit (but "header": "full",
        v1's only summary, which its canonical requests never named); a kept tensor is named by
        its dtype and the SHA-256 of its bytes (its summary is its moments whatever is asked)."""
        kept = self.kept
        tensors = [_kept_canonical(kept[t.name]) if t.name in kept else self._canonical(t) for t in self.tensors]
        return {"algorithm": algorithm(), "seed": self.seed, "tensors": tensors}

    def _canonical(self, spec: TensorSpec) -> dict[str, Any]:
        canonical = spec.canonical()
        if self.header_of(spec.name) != "full":
            canonical["header"] = self.header_of(spec.name)
        return canonical

    @cached_property
    def canonical_json(self) -> str:
        return canonical_json(self.canonical())

    @property
    def numel(self) -> int:
        return sum(t.numel for t in self.tensors)

    @property
    def nbytes(self) -> int:
        return sum(len(self.kept[t.name].data) if t.name in self.kept else t.nbytes for t in self.tensors)

    def tensor(self, name: str) -> TensorSpec:
        return next(t for t in self.tensors if t.name == name)

    def entry(self, spec: TensorSpec) -> Entry:
        """The tensor as the file lists it: a kept tensor keeps its own dtype."""
        dtype = self.kept[spec.name].dtype if spec.name in self.kept else spec.out_dtype.safetensors
        return Entry(spec.name, dtype, spec.shape)


def _kept_canonical(stored: Stored) -> dict[str, Any]:
    return {
        "name": stored.name,
        "shape": list(stored.shape),
        "dtype": dtype_name(stored.dtype),
        "kept": {"sha256": hashlib.sha256(stored.data).hexdigest()},
    }


@pinned
def kept_summary(stored: Stored) -> dict[str, Any]:
    """Header diagnostics of a kept tensor: its moments and extremes (no theory to test)."""
    if not stored.readable:
        return {"kept": True, "verdicts": []}
    values = stored.float64().reshape(-1)
    if values.size == 0:
        return {"kept": True, "verdicts": []}
    blocks = [values[i : i + BLOCK] for i in range(0, values.size, BLOCK)]
    mean = math.fsum(float(tree_sum(b)) for b in blocks) / values.size
    var = math.fsum(float(tree_sum((b - mean) ** 2)) for b in blocks) / values.size
    finite = bool(np.isfinite(values).all())
    return {
        "kept": True,
        "mean": mean if finite else None,
        "std": math.sqrt(var) if finite else None,
        "min": float(values.min()) if finite else None,
        "max": float(values.max()) if finite else None,
        "verdicts": [],
    }


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, ASCII: one text per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def sample_runs(numel: int) -> list[tuple[int, int]]:
    """The element ranges a tensor's header summary reads: all of it, or 256 evenly spaced runs."""
    if numel <= SAMPLE_LIMIT:
        return [(0, numel)]
    run = SAMPLE_LIMIT // SAMPLE_RUNS
    starts = [k * (numel - run) // (SAMPLE_RUNS - 1) for k in range(SAMPLE_RUNS)]
    return [(a, a + run) for a in starts]


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The diagnostics kept in the file's header: moments, extremes and the verdicts."""
    keep = ("mean", "std", "min", "max", "mean_z", "std_ratio", "verdict", "sample")
    out = {key: _finite(report[key]) for key in keep if key in report}
    out["expected_std"] = _finite(report["expected"]["std"])
    out["verdicts"] = [{"check": v["check"], "band": v["band"], "reason": v["reason"]} for v in report["verdicts"]]
    return out


def _finite(value: Any) -> Any:
    """The header is canonical JSON, which has no inf or NaN (moments of values near 1e308): null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


@pinned
def diagnose_stored(spec: TensorSpec, stored: np.ndarray) -> dict[str, Any]:
    """Full diagnostics of a tensor already generated (its stored representation)."""
    acc = Accumulator(spec)
    acc.add(0, stored.reshape(-1))
    full = None
    if not spec.plan.random_access or spec.plan.checks:
        full = spec.out_dtype.to_float64(stored).reshape(spec.shape)
    return acc.result(full)


@pinned
def header_summary(
    spec: TensorSpec, seed: int, stored: np.ndarray | None = None, header: str = "full"
) -> dict[str, Any]:
    """The tensor's header diagnostics (``header``: one of HEADERS); uses ``stored`` when the
    tensor is already in memory."""
    if header == "full" and spec.numel <= SAMPLE_LIMIT:
        values = stored if stored is not None else generate(spec, seed)
        return summary(diagnose_stored(spec, values))
    runs = sample_runs(spec.numel)
    acc = Accumulator(spec, sample=sum(b - a for a, b in runs) if len(runs) > 1 else None, checks=header)
    position = 0
    for a, b in runs:
        piece = stored.reshape(-1)[a:b] if stored is not None else generate(spec, seed, a, b)
        acc.add(position, piece)
        position += b - a
    out = summary(acc.result())
    if header != "full":
        out["header"] = header
    return out


def tensor_bytes(
    spec: TensorSpec, seed: int, lo: int, hi: int, stored: np.ndarray | None = None
) -> Iterator[memoryview]:
    """Bytes [lo, hi) of a tensor's little-endian data, generating only the elements they cover,
    piece by piece (or slicing ``stored``, the flat tensor, when it is in memory)."""
    size = spec.out_dtype.itemsize
    first, last = lo // size, -(-hi // size)
    for a in range(first, last, STREAM_ELEMENTS):
        checkpoint()  # streaming or hashing for a client that left stops here (service.core.cancel)
        b = min(a + STREAM_ELEMENTS, last)
        values = stored[a:b] if stored is not None else generate(spec, seed, a, b)
        # Stored arrays have explicit little-endian dtypes: their bytes are the file's on any host.
        data = np.ascontiguousarray(values).view(np.uint8).data
        yield data[max(lo - a * size, 0) : min(hi - a * size, len(data))]


@dataclass
class Artifact:
    """A request's file: header summaries, layout, and the tensors if they are held in memory."""

    request: Request
    summaries: dict[str, dict[str, Any]]
    stored: dict[str, np.ndarray] | None = None
    diagnostics: dict[str, dict[str, Any]] | None = None  # full reports, when held in memory
    _sha256: bytes | None = field(default=None, repr=False)

    @cached_property
    def layout(self) -> Layout:
        return layout([self.request.entry(t) for t in self.request.tensors], self.metadata)

    @cached_property
    def metadata(self) -> dict[str, str]:
        metadata = {
            "algorithm": algorithm(),
            "seed": str(self.request.seed),
            "request": self.request.canonical_json,
            "diagnostics": canonical_json(self.summaries),
            "format": "pt",  # Hugging Face loaders refuse files whose metadata lacks a format
        }
        if self.request.transfer is not None:
            metadata["transfer"] = canonical_json(self.request.transfer)
        if self.request.notes is not None:
            metadata["preset"] = canonical_json(self.request.notes)
        if self.request.checkpoint is not None:
            metadata["checkpoint"] = canonical_json(self.request.checkpoint)
        return metadata

    @property
    def size(self) -> int:
        return self.layout.size

    def read(self, start: int = 0, stop: int | None = None) -> Iterator[memoryview]:
        """The file's bytes [start, stop), generating only the elements they cover."""
        stop = self.size if stop is None else stop
        header = self.layout.header
        if start < len(header):
            yield memoryview(header)[start : min(stop, len(header))]
        for entry in self.layout.entries:
            first, last = self.layout.file_range(entry.name)
            lo, hi = max(start, first), min(stop, last)
            if lo < hi:
                yield from self._tensor_bytes(entry.name, lo - first, hi - first)

    def _tensor_bytes(self, name: str, lo: int, hi: int) -> Iterator[memoryview]:
        """Bytes [lo, hi) of one tensor's data."""
        if name in self.request.kept:
            return iter([memoryview(self.request.kept[name].data)[lo:hi]])
        spec = self.request.tensor(name)
        stored = None if self.stored is None else self.stored[name].reshape(-1)
        return tensor_bytes(spec, self.request.seed, lo, hi, stored)

    def chunks(self) -> Iterator[memoryview]:
        """The whole file, piece by piece."""
        return self.read()

    @property
    def sha256(self) -> bytes:
        """SHA-256 of the file (a full pass when the tensors are not in memory; then remembered)."""
        if self._sha256 is None:
            digest = hashlib.sha256()
            for chunk in self.read():
                digest.update(chunk)
            self._sha256 = digest.digest()
        return self._sha256

    def to_bytes(self) -> bytes:
        return b"".join(self.read())


def build(request: Request, diagnose: bool = False) -> Artifact:
    """Generate every tensor of ``request`` into memory; with ``diagnose``, full diagnostics too."""
    stored: dict[str, np.ndarray] = {}
    reports: dict[str, dict[str, Any]] = {}
    summaries: dict[str, dict[str, Any]] = {}
    for spec in request.tensors:
        if spec.name in request.kept:
            summaries[spec.name] = kept_summary(request.kept[spec.name])
            if diagnose:
                reports[spec.name] = summaries[spec.name]
            continue
        values = generate(spec, request.seed)
        stored[spec.name] = values
        header = request.header_of(spec.name)
        if diagnose:
            reports[spec.name] = diagnose_stored(spec, values)
        if diagnose and spec.numel <= SAMPLE_LIMIT and header == "full":
            summaries[spec.name] = summary(reports[spec.name])
        else:
            summaries[spec.name] = header_summary(spec, request.seed, values, header)
    return Artifact(request, summaries, stored, reports if diagnose else None)


# Bytes per element, measured with tracemalloc (tests/core/test_artifact.py checks the bound):
# generating a piece holds its words, floats and transforms (far-tail truncated normal ~50 B);
# a scheme without random access builds its whole tensor in float64 with a QR or a shuffle
# (orthogonal ~53 B, sparse ~39 B).
PIECE_BYTES_PER_ELEMENT = 64
WHOLE_BYTES_PER_ELEMENT = 64
BASE_WORKING_BYTES = 8 << 20  # header samples, summaries, the interpreter's share of a request


def working_bytes(request: Request, held: bool, copies: float = 2.0) -> int:
    """Most memory serving ``request`` holds at once, as an upper bound to reserve before starting.

    Held in memory, the file costs ``copies`` times its size (the tensors and the body; more for
    a JSON representation); streamed, one piece at a time. Tensors without random access are
    built whole whichever way the file is served.
    """
    generated = [t for t in request.tensors if t.name not in request.kept]
    widest = max((t.numel for t in generated), default=0)
    working = BASE_WORKING_BYTES + min(widest, STREAM_ELEMENTS) * PIECE_BYTES_PER_ELEMENT
    working += sum(t.numel * WHOLE_BYTES_PER_ELEMENT for t in generated if not t.plan.random_access)
    if held:
        working += math.ceil(copies * request.nbytes)
    return working


def diagnostics_report(request: Request) -> dict[str, Any]:
    """What POST /diagnostics answers: each tensor's full diagnostics, generated chunk by chunk
    (bounded memory whatever the size), with the algorithm, seed and canonical request."""
    return {
        "algorithm": algorithm(),
        "seed": request.seed,
        "request": request.canonical(),
        "diagnostics": {spec.name: diagnose(spec, request.seed) for spec in request.tensors},
    }


def plan(request: Request) -> Artifact:
    """The artifact without generating its tensors: only the header's samples are computed."""
    summaries = {
        spec.name: kept_summary(request.kept[spec.name])
        if spec.name in request.kept
        else header_summary(spec, request.seed, header=request.header_of(spec.name))
        for spec in request.tensors
    }
    return Artifact(request, summaries)
