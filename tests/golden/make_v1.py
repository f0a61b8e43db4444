"""Write tests/golden/v1.json and v1_files.json: known answers for algorithm initw-v1. Append-only.

    python -m tests.golden.make_v1          # add cases that are missing; never touch existing ones

v1.json holds each case's stored tensor (SHA-256 and first values); v1_files.json the SHA-256 of the
whole file the service serves for it, header included.

Once a case is committed its bytes are the definition of v1: this script refuses to run if any
committed case no longer reproduces, and never rewrites one. A new scheme adds cases (its
registered example, in every dtype); a better algorithm is a new version with its own file.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

import numpy as np

from service.core.generate import TensorSpec, algorithm, generate
from service.core.registry import REGISTRY

PATH = Path(__file__).with_name("v1.json")
FILES_PATH = Path(__file__).with_name("v1_files.json")  # whole files, header included (file_answer)
SEED = 20261129
DTYPES = ("float32", "float64", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")  # float8 appended later


def examples() -> list[tuple[str, tuple[int, ...], str, dict, str]]:
    """(id, shape, scheme, params, layout) of every scheme's example (declared beside its formula,
    service/core/schemes), to be written in every dtype: a new scheme's cases come from here."""
    return [(name, s.example.shape, name, dict(s.example.params), s.example.layout) for name, s in REGISTRY.items()]


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
    # JAX's axes (section 10) and orthogonal's column_axis (11.4), added with the dialects.
    ("variance_scaling-jax-axes", (64, 8, 32), "variance_scaling",
     {"scale": 2.0, "mode": "fan_avg", "in_axis": 0, "out_axis": 2, "batch_axis": 1}, "jax"),
    ("variance_scaling-jax-axes-lists", (3, 3, 16, 32), "variance_scaling",
     {"distribution": "uniform", "in_axis": [0, 1, 2], "out_axis": -1}, "torch"),
    ("orthogonal-column_axis", (6, 10, 12), "orthogonal", {"gain": 1.5, "column_axis": 1}, "jax"),
]  # fmt: skip

# float8 (ALGORITHM.md section 9): overflow (e4m3fn NaN, e5m2 inf), the tie at e4m3fn's edge, subnormal
# ranges and a large tensor, in both formats.
FLOAT8_VARIANTS = [
    ("float8-constant-500", (4, 4), "constant", {"value": 500.0}, "torch"),
    ("float8-constant-edge-tie", (4, 4), "constant", {"value": -464.0}, "torch"),
    ("float8-constant-60000", (4, 4), "constant", {"value": 60000.0}, "torch"),
    ("float8-constant-61440", (4, 4), "constant", {"value": 61440.0}, "torch"),
    ("float8-uniform-wide", (64, 64), "uniform", {"a": -1e5, "b": 1e5}, "torch"),
    ("float8-uniform-500", (64, 64), "uniform", {"a": -500.0, "b": 500.0}, "torch"),
    ("float8-normal-subnormal-e4m3", (64, 64), "normal", {"std": 1e-3}, "torch"),
    ("float8-normal-subnormal-e5m2", (64, 64), "normal", {"std": 2e-5}, "torch"),
    ("float8-truncated_normal-sigma", (64, 64), "truncated_normal", {"std": 0.02, "bounds": "sigma"}, "torch"),
    ("float8-normal-1M", (1024, 1024), "normal", {}, "torch"),
]
FLOAT8 = ("float8_e4m3fn", "float8_e5m2")

# complex64 (ALGORITHM.md 8.1): every scheme that draws complex values, each complex shape of
# variance_scaling, large tensors, a mean-0 normal, and a part beyond float32's range.
COMPLEX_VARIANTS = [
    ("complex-zeros", (8, 6), "zeros", {}, "torch"),
    ("complex-ones", (6,), "ones", {}, "torch"),
    ("complex-constant", (3, 5), "constant", {"value": -0.3}, "torch"),
    ("complex-constant-overflow", (2, 2), "constant", {"value": 1e39}, "torch"),
    ("complex-normal", (48, 40), "normal", {"std": 0.02}, "torch"),
    ("complex-normal-1M", (1024, 1024), "normal", {}, "torch"),
    ("complex-variance_scaling-truncated_normal", (3, 3, 8, 16), "variance_scaling", {}, "keras"),
    ("complex-variance_scaling-normal", (3, 3, 8, 16), "variance_scaling",
     {"mode": "fan_avg", "distribution": "normal"}, "keras"),
    ("complex-variance_scaling-uniform", (3, 3, 8, 16), "variance_scaling",
     {"scale": 2.0, "distribution": "uniform"}, "keras"),
    ("complex-variance_scaling-uniform-1M", (1024, 1024), "variance_scaling", {"distribution": "uniform"}, "jax"),
    ("complex-variance_scaling-truncated-1M", (1024, 1024), "variance_scaling", {"mode": "fan_out"}, "jax"),
    ("complex-variance_scaling-axes", (64, 8, 32), "variance_scaling",
     {"scale": 2.0, "in_axis": 0, "out_axis": 2, "batch_axis": 1}, "jax"),
    ("complex-lecun_normal", (40, 48), "lecun_normal", {}, "jax"),
    ("complex-lecun_uniform", (40, 48), "lecun_uniform", {}, "jax"),
]  # fmt: skip

# Keys: the tensor name and the seed reach every byte.
NAMES = [("name-unicode", "blocks.0.attn.wéight/🙂", 0), ("seed-max", "weight", 2**64 - 1), ("seed-zero", "weight", 0)]


# Truncated normals where section 7's moments are least accurate, in float64 (every bit of the std
# reaches the values with correct_variance; the bytes of the others pin the refusals: none): far
# tails, where Phi(x) for x >= 0 is 1 - Q(x) rounded to 100 digits, so beyond about 19 standard
# deviations the moments of an upper-tail interval carry few correct digits, and their mirror
# images in the lower tail, where Phi keeps every digit; and narrow intervals, where the 28-digit
# exponents reach the std. Every answer was computed by the first release of v1 (commit 11225cf),
# which served all of them; the moments' mirror fallback (section 7) applies to none of them.
TAIL_STARTS = (8.0, 12.0, 15.0, 17.0, 19.0, 20.0, 20.5, 21.0)
TAIL_WIDTHS = (0.5, 1.0, 3.0)
NARROW_CENTRES = (0.0, 3.0, -5.0)
NARROW_WIDTHS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
# Bounds one to three binary64 steps apart, where Phi(beta') - Phi(alpha') is 0 in float64 (every p
# is pa, section 8) but the moments resolve: served, never refused.
ZERO_WIDTH = ((0.1, 0.10000000000000002), (-0.001, -0.0009999999999999998), (0.002, 0.0020000000000000005))


def truncation_cases() -> list[tuple[str, dict]]:
    """(id, params) of the far-tail and narrow-interval truncated normals, in declaration order."""
    out: list[tuple[str, dict]] = []
    for start in TAIL_STARTS:
        for width in TAIL_WIDTHS:
            for lo, hi in ((start, start + width), (-(start + width), -start)):
                span = f"{lo:g}..{hi:g}"
                out.append((f"truncated_normal-tail-sigma-{span}", {"a": lo, "b": hi, "bounds": "sigma"}))
                corrected = {"std": 0.02, "a": lo, "b": hi, "bounds": "sigma", "correct_variance": True}
                out.append((f"truncated_normal-tail-corrected-{span}", corrected))
                absolute = {"mean": 0.5, "std": 0.25, "a": 0.5 + 0.25 * lo, "b": 0.5 + 0.25 * hi}
                out.append((f"truncated_normal-tail-absolute-{span}", absolute))
    for centre in NARROW_CENTRES:
        for width in NARROW_WIDTHS:
            lo = centre - width / 2
            hi = lo + width
            span = f"{centre:g}w{width:g}"
            out.append((f"truncated_normal-narrow-sigma-{span}", {"a": lo, "b": hi, "bounds": "sigma"}))
            corrected = {"std": 0.02, "a": lo, "b": hi, "bounds": "sigma", "correct_variance": True}
            out.append((f"truncated_normal-narrow-corrected-{span}", corrected))
    for lo, hi in ZERO_WIDTH:
        span = f"{lo!r}..{hi!r}"
        out.append((f"truncated_normal-zero-width-sigma-{span}", {"a": lo, "b": hi, "bounds": "sigma"}))
        corrected = {"std": 0.02, "a": lo, "b": hi, "bounds": "sigma", "correct_variance": True}
        out.append((f"truncated_normal-zero-width-corrected-{span}", corrected))
    return out


def cases() -> list[tuple[str, int, TensorSpec]]:
    out = []
    for case_id, shape, scheme, params, layout in examples():
        for dtype in DTYPES:
            out.append((f"{case_id}/{dtype}", SEED, TensorSpec("weight", shape, scheme, params, dtype, layout)))
    for case_id, shape, scheme, params, layout in VARIANTS:
        for dtype in ("float32", "float64"):
            out.append((f"{case_id}/{dtype}", SEED, TensorSpec("weight", shape, scheme, params, dtype, layout)))
    for case_id, name, seed in NAMES:
        out.append((f"{case_id}/float32", seed, TensorSpec(name, (16, 16), "normal", {}, "float32")))
    for case_id, params in truncation_cases():
        out.append((f"{case_id}/float64", SEED, TensorSpec("weight", (16, 16), "truncated_normal", params, "float64")))
    for case_id, shape, scheme, params, layout in FLOAT8_VARIANTS:
        for dtype in FLOAT8:
            out.append((f"{case_id}/{dtype}", SEED, TensorSpec("weight", shape, scheme, params, dtype, layout)))
    for case_id, shape, scheme, params, layout in COMPLEX_VARIANTS:
        out.append((f"{case_id}/complex64", SEED, TensorSpec("weight", shape, scheme, params, "complex64", layout)))
    return out


def answer(seed: int, spec: TensorSpec) -> dict:
    stored = generate(spec, seed)
    data = np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder("<")).tobytes()
    first = stored[:8]
    bits = first.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[first.dtype.itemsize])
    return {
        "seed": seed,
        "tensor": spec.canonical(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "first_bits": [f"0x{int(b):0{2 * first.dtype.itemsize}x}" for b in bits],
        "first_values": [repr(float(v)) for v in spec.out_dtype.to_float64(first)],
    }


def file_answer(seed: int, spec: TensorSpec) -> dict:
    """The SHA-256 of the whole safetensors file POST /init serves for this one tensor, header
    (request, diagnostics) included: what v1.json's tensor answers cannot see."""
    from service.core.artifact import Request, build

    with warnings.catch_warnings():  # as served: numpy's RuntimeWarnings (a zero-width interval's
        warnings.simplefilter("ignore", RuntimeWarning)  # diagnostics divide by 0) are not errors there
        data = build(Request(seed, (spec,))).to_bytes()
    return {"seed": seed, "tensor": spec.canonical(), "sha256": hashlib.sha256(data).hexdigest()}


FILE_GROUPS = ("truncated_normal-tail-", "truncated_normal-narrow-", "truncated_normal-zero-width-")


def file_cases() -> list[tuple[str, int, TensorSpec]]:
    """Whole files of v1_files.json: the truncated normals above (their headers carry the moments)."""
    return [case for case in cases() if case[0].startswith(FILE_GROUPS)]


def render(golden: dict) -> str:
    """One case per line, so a diff shows exactly which cases were added."""
    lines = [f' "{case_id}": {json.dumps(case, ensure_ascii=False)}' for case_id, case in golden["cases"].items()]
    head = json.dumps({"algorithm": golden["algorithm"]})[:-1]  # '{"algorithm": "initw-v1"'
    return head + ', "cases": {\n' + ",\n".join(lines) + "\n}}\n"


def spec_of(case: dict) -> TensorSpec:
    tensor = dict(case["tensor"])
    scheme = dict(tensor.pop("scheme"))
    return TensorSpec(scheme=scheme.pop("name"), params=scheme, **tensor)


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"algorithm": algorithm(), "cases": {}}


def add_missing(golden: dict, wanted: Iterable[tuple[str, Callable[[], dict]]]) -> int:
    """Add each wanted case ``golden`` lacks, computed by its thunk, never touching one it has
    (append-only); the number added."""
    added = 0
    for case_id, make in wanted:
        if case_id not in golden["cases"]:
            golden["cases"][case_id] = make()
            added += 1
    return added


def main() -> int:
    files = ((PATH, answer, cases), (FILES_PATH, file_answer, file_cases))
    loaded = [_load(path) for path, _, _ in files]
    for (path, make, _), existing in zip(files, loaded, strict=True):
        for case_id, case in existing["cases"].items():
            if make(case["seed"], spec_of(case)) != case:
                message = f"committed case {case_id} of {path.name} no longer reproduces: v1 is broken"
                print(message + ", refusing to write", file=sys.stderr)
                return 1
    for (path, make, wanted), existing in zip(files, loaded, strict=True):
        added = add_missing(existing, ((i, partial(make, seed, spec)) for i, seed, spec in wanted()))
        path.write_text(render(existing))
        print(f"{added} cases added, {len(existing['cases'])} in {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
