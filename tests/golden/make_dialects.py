"""Write tests/golden/v1_dialects.json: what every framework word means, forever. Append-only.

    python -m tests.golden.make_dialects     # add cases that are missing; never touch existing ones

A case is a tensor as a framework's user writes it (its dialect, name, parameters, shape), the
canonical initw tensor it translates into (service/core/dialects.py) and the SHA-256 of its stored
float32 bytes. A word's meaning is part of v1 once committed: this script refuses to run if any
committed case no longer reproduces, and tests/golden/test_dialects_golden.py checks them all.
"""

from __future__ import annotations

import hashlib
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from service.core import dialects
from service.core.generate import TensorSpec, generate
from tests.golden.make_v1 import add_missing

PATH = Path(__file__).with_name("v1_dialects.json")
SEED = 20261204
CONV = (3, 3, 16, 32)
SHAPES = {"eye_": (6, 8), "Identity": (6, 8), "sparse_": (24, 40), "dirac_": (16, 8, 3, 3),
          "delta_orthogonal": (3, 3, 8, 16)}  # fmt: skip
REQUIRED = {"constant_": {"val": 0.5}, "sparse_": {"sparsity": 0.25}, "constant": {"value": -0.75},
            "variance_scaling": {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}}  # fmt: skip
# Parameters other than the defaults, where a word's own arguments reach the bytes.
VARIANTS = [
    ("keras", "HeNormal", {"input_axes": [0, 1, 2], "output_axes": [3]}, CONV),
    ("keras", "VarianceScaling", {"scale": 0.5, "mode": "fan_out", "distribution": "normal"}, CONV),
    ("keras", "VarianceScaling", {"distribution": "untruncated_normal"}, CONV),
    ("keras", "TruncatedNormal", {"mean": 1.0, "stddev": 0.2}, CONV),
    ("keras", "LecunNormal", {}, (50,)),
    ("jax", "he_normal", {"in_axis": 0, "out_axis": 2, "batch_axis": 1}, (64, 8, 32)),
    ("jax", "truncated_normal", {"stddev": 0.5, "lower": -1.0, "upper": 3.0}, CONV),
    ("jax", "orthogonal", {"scale": 2.0, "column_axis": 1}, (6, 10, 12)),
    ("jax", "variance_scaling", {"scale": 1.0, "mode": "fan_geo_avg", "distribution": "normal"}, CONV),
    ("torch", "trunc_normal_", {"std": 0.02}, (64, 32)),
    ("torch", "kaiming_uniform_", {"a": 2.23606797749979}, (16, 8, 3, 3)),
]


def cases() -> list[tuple[str, str, str, dict[str, Any], tuple[int, ...]]]:
    """(id, dialect, name, params, shape): every word with its defaults, then the variants."""
    out = []
    for dialect in dialects.PREFIXES:
        for word in dialects.by_dialect(dialect):
            if word.unsupported:
                continue
            params = REQUIRED.get(word.name, {}) if not (dialect == "keras" and word.name == "variance_scaling") else {}
            shape = SHAPES.get(word.name, CONV if dialect != "torch" else (32, 16, 3, 3))
            out.append((word.qualified, dialect, word.name, params, shape))
    for dialect, name, params, shape in VARIANTS:
        out.append((f"{dialect}.{name}({json.dumps(params, sort_keys=True)})", dialect, name, params, shape))
    return out


def answer(dialect: str, name: str, params: dict[str, Any], shape: tuple[int, ...]) -> dict[str, Any]:
    meaning = dialects.translate(f"{dialect}.{name}", params, shape)
    spec = TensorSpec("weight", shape, meaning.scheme, meaning.params, "float32", meaning.layout,
                      meaning.fan_in, meaning.fan_out)  # fmt: skip
    data = np.ascontiguousarray(generate(spec, SEED)).astype("<f4").tobytes()
    return {
        "seed": SEED,
        "written": {"dialect": dialect, "name": name, "params": params, "shape": list(shape)},
        "tensor": spec.canonical(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def render(golden: dict[str, Any]) -> str:
    lines = [f" {json.dumps(case_id)}: {json.dumps(case)}" for case_id, case in golden["cases"].items()]
    return '{"algorithm": "initw-v1", "cases": {\n' + ",\n".join(lines) + "\n}}\n"


def main() -> int:
    existing = json.loads(PATH.read_text()) if PATH.exists() else {"algorithm": "initw-v1", "cases": {}}
    for case_id, case in existing["cases"].items():
        w = case["written"]
        if answer(w["dialect"], w["name"], w["params"], tuple(w["shape"])) != case:
            print(f"committed case {case_id} no longer reproduces: a word changed meaning", file=sys.stderr)
            return 1
    added = add_missing(existing, ((case_id, partial(answer, *rest)) for case_id, *rest in cases()))
    PATH.write_text(render(existing))
    print(f"{added} cases added, {len(existing['cases'])} in {PATH.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
