"""Write tests/golden/v1.json: known answers for algorithm initw-v1. Append-only.

    python -m tests.golden.make_v1          # add cases that are missing; never touch existing ones

Once a case is committed its bytes are the definition of v1: this script refuses to run if any
committed case no longer reproduces, and never rewrites one. A new scheme adds cases; a better
algorithm is a new version with its own file.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np

from service.core.generate import TensorSpec, algorithm, generate

PATH = Path(__file__).with_name("v1.json")
SEED = 20261129
DTYPES = ("float32", "float64", "float16", "bfloat16")

# (id, shape, scheme, params, layout): every scheme, each in every dtype.
BASE = [
    ("zeros", (8, 6), "zeros", {}, "torch"),
    ("ones", (6,), "ones", {}, "torch"),
    ("constant", (3, 5), "constant", {"value": -0.3}, "torch"),
    ("uniform", (48, 40), "uniform", {"a": -0.5, "b": 1.5}, "torch"),
    ("normal", (48, 40), "normal", {"mean": 0.1, "std": 0.02}, "torch"),
    ("truncated_normal", (48, 40), "truncated_normal", {}, "torch"),
    ("xavier_uniform", (48, 40), "xavier_uniform", {"gain": 1.5}, "torch"),
    ("xavier_normal", (48, 40), "xavier_normal", {}, "torch"),
    ("kaiming_uniform", (16, 8, 3, 3), "kaiming_uniform", {"a": math.sqrt(5)}, "torch"),
    ("kaiming_normal", (16, 8, 3, 3), "kaiming_normal", {"mode": "fan_out", "nonlinearity": "relu"}, "torch"),
    ("lecun_uniform", (40, 48), "lecun_uniform", {}, "jax"),
    ("lecun_normal", (40, 48), "lecun_normal", {}, "jax"),
    ("variance_scaling", (3, 3, 8, 16), "variance_scaling", {}, "keras"),
    ("orthogonal", (24, 40), "orthogonal", {"gain": 1.5}, "torch"),
    ("sphere_rows", (24, 40), "sphere_rows", {"radius": 2.0}, "torch"),
    ("sparse", (40, 24), "sparse", {"sparsity": 0.25, "std": 0.05}, "torch"),
    ("spread_rows", (96, 40), "spread_rows", {}, "torch"),
    ("hadamard_identity", (20, 12, 3), "hadamard_identity", {}, "torch"),
    ("eye", (5, 7), "eye", {"gain": 2.0}, "torch"),
    ("dirac", (6, 3, 3, 3), "dirac", {"groups": 2}, "torch"),
    ("delta_orthogonal", (3, 3, 8, 16), "delta_orthogonal", {}, "jax"),
]

# Variants that pin particular branches of the spec, in float32 and float64.
VARIANTS = [
    ("normal-1M", (1024, 1024), "normal", {}, "torch"),
    ("uniform-1M", (1024, 1024), "uniform", {}, "torch"),
    ("truncated_normal-1M", (1024, 1024), "truncated_normal", {}, "torch"),
    ("truncated_normal-sigma-far-tail", (64, 64), "truncated_normal", {"a": 4.0, "b": 6.0, "bounds": "sigma"}, "torch"),
    (
        "truncated_normal-sigma-lower-tail",
        (64, 64),
        "truncated_normal",
        {"mean": 1.0, "std": 2.0, "a": -9.0, "b": -7.5, "bounds": "sigma"},
        "torch",
    ),
    ("truncated_normal-small-std", (64, 64), "truncated_normal", {"std": 0.02}, "torch"),
    (
        "truncated_normal-corrected",
        (64, 64),
        "truncated_normal",
        {"std": 0.1, "a": -1.0, "b": 3.0, "bounds": "sigma", "correct_variance": True},
        "torch",
    ),
    (
        "kaiming_uniform-tanh-fan_out",
        (64, 32, 5),
        "kaiming_uniform",
        {"mode": "fan_out", "nonlinearity": "tanh"},
        "torch",
    ),
    ("kaiming_normal-leaky", (64, 32), "kaiming_normal", {"a": 0.2}, "torch"),
    (
        "variance_scaling-geo-normal",
        (5, 5, 16, 32),
        "variance_scaling",
        {"scale": 2.0, "mode": "fan_geo_avg", "distribution": "normal"},
        "jax",
    ),
    (
        "variance_scaling-avg-uniform",
        (32, 64),
        "variance_scaling",
        {"scale": 0.5, "mode": "fan_avg", "distribution": "uniform"},
        "keras",
    ),
    ("orthogonal-tall-keras", (3, 3, 16, 8), "orthogonal", {}, "keras"),
    ("orthogonal-conv-torch", (8, 4, 3, 3), "orthogonal", {"gain": 1.4142135623730951}, "torch"),
    ("sphere_rows-keras", (30, 20), "sphere_rows", {}, "keras"),
    ("sparse-keras", (24, 40), "sparse", {"sparsity": 0.5}, "keras"),
    ("dirac-keras", (3, 3, 4, 6), "dirac", {"groups": 2}, "keras"),
    ("delta_orthogonal-torch", (16, 8, 3, 3), "delta_orthogonal", {"gain": 2.0}, "torch"),
    ("spread_rows-square", (64, 64), "spread_rows", {"gain": 1.4142135623730951}, "torch"),
    ("spread_rows-dct", (30, 20), "spread_rows", {}, "torch"),
    ("spread_rows-4x-keras", (24, 96), "spread_rows", {}, "keras"),
    ("hadamard_identity-widening", (24, 12), "hadamard_identity", {}, "torch"),
    (
        "hadamard_identity-narrowing-conv-keras",
        (3, 3, 16, 8),
        "hadamard_identity",
        {"gain": 1.4142135623730951},
        "keras",
    ),  # fmt: skip
]

# Keys: the tensor name and the seed reach every byte.
NAMES = [("name-unicode", "blocks.0.attn.wéight/🙂", 0), ("seed-max", "weight", 2**64 - 1), ("seed-zero", "weight", 0)]


def cases() -> list[tuple[str, int, TensorSpec]]:
    out = []
    for case_id, shape, scheme, params, layout in BASE:
        for dtype in DTYPES:
            out.append((f"{case_id}/{dtype}", SEED, TensorSpec("weight", shape, scheme, params, dtype, layout)))
    for case_id, shape, scheme, params, layout in VARIANTS:
        for dtype in ("float32", "float64"):
            out.append((f"{case_id}/{dtype}", SEED, TensorSpec("weight", shape, scheme, params, dtype, layout)))
    for case_id, name, seed in NAMES:
        out.append((f"{case_id}/float32", seed, TensorSpec(name, (16, 16), "normal", {}, "float32")))
    return out


def answer(seed: int, spec: TensorSpec) -> dict:
    stored = generate(spec, seed)
    data = np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder("<")).tobytes()
    first = stored[:8]
    bits = first.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[first.dtype.itemsize])
    return {
        "seed": seed,
        "tensor": spec.canonical(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "first_bits": [f"0x{int(b):0{2 * first.dtype.itemsize}x}" for b in bits],
        "first_values": [repr(float(v)) for v in spec.out_dtype.to_float64(first)],
    }


def render(golden: dict) -> str:
    """One case per line, so a diff shows exactly which cases were added."""
    lines = [f' "{case_id}": {json.dumps(case, ensure_ascii=False)}' for case_id, case in golden["cases"].items()]
    head = json.dumps({"algorithm": golden["algorithm"]})[:-1]  # '{"algorithm": "initw-v1"'
    return head + ', "cases": {\n' + ",\n".join(lines) + "\n}}\n"


def main() -> int:
    existing = json.loads(PATH.read_text()) if PATH.exists() else {"algorithm": algorithm(), "cases": {}}
    for case_id, case in existing["cases"].items():
        spec = TensorSpec(**{k: v for k, v in case["tensor"].items() if k != "scheme"},
                          scheme=case["tensor"]["scheme"]["name"],
                          params={k: v for k, v in case["tensor"]["scheme"].items() if k != "name"})  # fmt: skip
        if answer(case["seed"], spec) != case:
            print(f"committed case {case_id} no longer reproduces: v1 is broken, refusing to write", file=sys.stderr)
            return 1
    added = 0
    for case_id, seed, spec in cases():
        if case_id not in existing["cases"]:
            existing["cases"][case_id] = answer(seed, spec)
            added += 1
    PATH.write_text(render(existing))
    print(f"{added} cases added, {len(existing['cases'])} in {PATH.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
