"""An artifact: the tensors of one request as a canonical safetensors file, with diagnostics.

The file is a pure function of the canonical request: its header holds the algorithm, the seed,
the canonical request and each tensor's diagnostics summary, all serialized deterministically,
so the same request gives the same bytes (header included) in any process on any machine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from .diagnose import Accumulator
from .generate import TensorSpec, algorithm, generate
from .write import Entry, Layout, layout


@dataclass(frozen=True)
class Request:
    """A validated request: a seed and tensors with unique names, in request order."""

    seed: int
    tensors: tuple[TensorSpec, ...]

    def canonical(self) -> dict[str, Any]:
        """Everything the bytes depend on, with every default made explicit."""
        return {"algorithm": algorithm(), "seed": self.seed, "tensors": [t.canonical() for t in self.tensors]}

    @cached_property
    def canonical_json(self) -> str:
        return canonical_json(self.canonical())

    @property
    def numel(self) -> int:
        return sum(t.numel for t in self.tensors)

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, ASCII: one text per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The diagnostics kept in the file's header: moments, extremes and the verdicts."""
    keep = ("mean", "std", "min", "max", "mean_z", "std_ratio", "verdict")
    out = {key: report[key] for key in keep if key in report}
    out["expected_std"] = report["expected"]["std"]
    out["verdicts"] = [{"check": v["check"], "band": v["band"], "reason": v["reason"]} for v in report["verdicts"]]
    return out


def diagnose_stored(spec: TensorSpec, stored: np.ndarray, seed: int) -> dict[str, Any]:
    """Diagnostics of a tensor already generated (its stored representation)."""
    acc = Accumulator(spec)
    acc.add(0, stored.reshape(-1))
    full = None
    if not spec.plan.random_access or spec.plan.checks:
        full = spec.out_dtype.to_float64(stored).reshape(spec.shape)
    return acc.result(full)


@dataclass
class Artifact:
    """The generated tensors of a request, the file layout and the diagnostics."""

    request: Request
    stored: dict[str, np.ndarray]
    diagnostics: dict[str, dict[str, Any]]

    @cached_property
    def layout(self) -> Layout:
        entries = [Entry(t.name, t.out_dtype.safetensors, t.shape) for t in self.request.tensors]
        return layout(entries, self.metadata)

    @cached_property
    def metadata(self) -> dict[str, str]:
        return {
            "algorithm": algorithm(),
            "seed": str(self.request.seed),
            "request": self.request.canonical_json,
            "diagnostics": canonical_json({name: summary(r) for name, r in self.diagnostics.items()}),
            "format": "pt",  # Hugging Face loaders refuse files whose metadata lacks a format
        }

    @property
    def size(self) -> int:
        return self.layout.size

    def chunks(self) -> Iterator[memoryview]:
        """The file, piece by piece, without copying the tensors."""
        yield memoryview(self.layout.header)
        for entry in self.layout.entries:
            # Stored arrays have explicit little-endian dtypes ('<f4', '<u2', ...): their bytes are
            # the file's on any host.
            yield np.ascontiguousarray(self.stored[entry.name]).view(np.uint8).data

    @cached_property
    def sha256(self) -> bytes:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.digest()

    def to_bytes(self) -> bytes:
        return b"".join(self.chunks())


def build(request: Request) -> Artifact:
    """Generate every tensor of ``request`` and diagnose it."""
    stored: dict[str, np.ndarray] = {}
    diagnostics: dict[str, dict[str, Any]] = {}
    for spec in request.tensors:
        values = generate(spec, request.seed)
        stored[spec.name] = values
        diagnostics[spec.name] = diagnose_stored(spec, values, request.seed)
    return Artifact(request, stored, diagnostics)
