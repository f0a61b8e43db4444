"""Artifacts: one request, one file, the same bytes in every process, header included."""

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import ml_dtypes  # noqa: F401  (lets safe_open(framework="np") return bfloat16 arrays)
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.numpy import load

from service.core.artifact import SAMPLE_LIMIT, Request, build, canonical_json, plan, sample_runs, summary
from service.core.diagnose import diagnose
from service.core.generate import TensorSpec, generate

ROOT = Path(__file__).resolve().parents[2]

# Every dtype, elementwise and whole-tensor schemes, an alias, a rank-0 int64 counter, a fan override.
TENSORS = (
    TensorSpec("fc.weight", (12, 10), "kaiming_uniform", {"a": math.sqrt(5)}),
    TensorSpec("fc.bias", (12,), "uniform", {"a": -0.25, "b": 0.25}),
    TensorSpec("emb", (9, 4), "normal", {"std": 0.02}, dtype="float16"),
    TensorSpec("proj", (6, 8), "orthogonal", {"gain": 1.5}, dtype="float64"),
    TensorSpec("gate", (5, 7), "glorot_normal", {}, dtype="bfloat16", layout="keras"),
    TensorSpec("bn.num_batches_tracked", (), "zeros", {}, dtype="int64"),
    TensorSpec("bn.running_var", (3,), "ones", {}),
    TensorSpec("scale", (4,), "trunc_normal", {"std": 0.5}, dtype="float16", fan_in=4, fan_out=4),
)
REQUEST = Request(seed=2024, tensors=TENSORS)

SCRIPT = """
import hashlib
from service.core.artifact import build
from tests.core.test_artifact import REQUEST
print(hashlib.sha256(build(REQUEST).to_bytes()).hexdigest())
"""


@pytest.fixture(scope="module")
def art():
    return build(REQUEST)


@pytest.fixture(scope="module")
def blob(art):
    return art.to_bytes()


# --- reproducibility ----------------------------------------------------------------------------


def vars_of(spec: TensorSpec) -> dict:
    keys = ("name", "shape", "scheme", "params", "dtype", "layout", "fan_in", "fan_out")
    return {key: getattr(spec, key) for key in keys}


def test_building_the_same_request_twice_gives_identical_bytes(blob):
    # Fresh specs, so no cached plan is shared with the first build.
    again = build(Request(seed=2024, tensors=tuple(TensorSpec(**vars_of(t)) for t in TENSORS)))
    assert again.to_bytes() == blob


@pytest.mark.slow  # a new interpreter
def test_a_separate_python_process_with_another_hash_seed_writes_the_same_bytes(blob):
    # The header embeds the request and diagnostics: equal file hashes prove the header is deterministic too.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == hashlib.sha256(blob).hexdigest()


def test_the_seed_changes_the_random_tensors_but_not_the_constant_ones():
    first, second = build(Request(1, TENSORS[:2] + TENSORS[5:7])), build(Request(2, TENSORS[:2] + TENSORS[5:7]))
    assert first.stored["fc.weight"].tobytes() != second.stored["fc.weight"].tobytes()
    assert first.stored["bn.running_var"].tobytes() == second.stored["bn.running_var"].tobytes()
    assert first.to_bytes() != second.to_bytes()


def test_a_tensors_bytes_do_not_depend_on_the_other_tensors_of_the_request(art):
    alone = build(Request(2024, (TENSORS[2],)))
    assert alone.stored["emb"].tobytes() == art.stored["emb"].tobytes()


# --- metadata -----------------------------------------------------------------------------------


def test_metadata_holds_algorithm_seed_canonical_request_diagnostics_and_format(art):
    metadata = art.metadata
    assert set(metadata) == {"algorithm", "seed", "request", "diagnostics", "format"}
    assert all(isinstance(value, str) for value in metadata.values())
    assert metadata["algorithm"] == "initw-v1"
    assert metadata["seed"] == "2024"
    assert metadata["format"] == "pt"
    assert metadata["request"] == canonical_json(REQUEST.canonical())
    assert json.loads(metadata["request"]) == REQUEST.canonical()
    request = json.loads(metadata["request"])
    assert request["algorithm"] == "initw-v1" and request["seed"] == 2024
    assert [t["name"] for t in request["tensors"]] == [t.name for t in TENSORS]  # request order, not file order
    assert request["tensors"][4]["scheme"] == {"name": "xavier_normal", "gain": 1.0}  # canonical name, defaults


def test_diagnostics_in_the_metadata_summarize_each_tensor(art):
    diagnostics = json.loads(art.metadata["diagnostics"])
    assert set(diagnostics) == {t.name for t in TENSORS}
    for spec in TENSORS:
        entry = diagnostics[spec.name]
        assert {"mean", "std", "expected_std", "min", "max", "verdicts"} <= set(entry), spec.name
        for verdict in entry["verdicts"]:
            assert set(verdict) == {"check", "band", "reason"}
        assert entry["min"] <= entry["mean"] <= entry["max"]
    ones = diagnostics["bn.running_var"]
    assert (ones["mean"], ones["std"], ones["min"], ones["max"], ones["expected_std"]) == (1.0, 0.0, 1.0, 1.0, 0.0)
    assert diagnostics["bn.num_batches_tracked"]["max"] == 0.0
    bound = 0.25
    assert -bound <= diagnostics["fc.bias"]["min"] < diagnostics["fc.bias"]["max"] <= bound
    assert diagnostics["emb"]["expected_std"] == 0.02


def test_diagnostics_summary_equals_the_summary_of_the_core_report():
    spec = TENSORS[0]
    art = build(Request(5, (spec,)))
    expected = json.loads(canonical_json(summary(diagnose(spec, 5))))
    assert json.loads(art.metadata["diagnostics"]) == {spec.name: expected}


def test_summary_keeps_moments_extremes_expected_std_and_verdicts_only():
    report = {
        "mean": 0.1,
        "std": 1.0,
        "min": -3.0,
        "max": 3.0,
        "mean_z": 0.5,
        "std_ratio": 1.01,
        "verdict": "healthy",
        "expected": {"std": 0.99, "mean": 0.0},
        "verdicts": [{"check": "ks", "band": "healthy", "reason": "ok", "value": 0.3}],
        "ks": {"statistic": 0.01},
        "rows": {"duplicates": 0},
    }
    assert summary(report) == {
        "mean": 0.1,
        "std": 1.0,
        "min": -3.0,
        "max": 3.0,
        "mean_z": 0.5,
        "std_ratio": 1.01,
        "verdict": "healthy",
        "expected_std": 0.99,
        "verdicts": [{"check": "ks", "band": "healthy", "reason": "ok"}],
    }


# --- bytes --------------------------------------------------------------------------------------


def test_chunks_concatenate_to_the_file_and_sha256_and_size_describe_it(art, blob):
    assert b"".join(bytes(chunk) for chunk in art.chunks()) == blob
    assert art.sha256 == hashlib.sha256(blob).digest()
    assert art.size == len(blob) == art.layout.size
    assert blob.startswith(art.layout.header)


def test_each_tensors_bytes_in_the_file_are_its_generated_values_little_endian(art, blob):
    for spec in TENSORS:
        begin, end = art.layout.file_range(spec.name)
        expected = generate(spec, REQUEST.seed)
        assert blob[begin:end] == expected.astype(expected.dtype.newbyteorder("<")).tobytes(), spec.name
        assert end - begin == spec.nbytes


def test_the_header_declares_each_tensors_safetensors_dtype_and_shape(art):
    header = art.layout.header
    document = json.loads(header[8 : 8 + int.from_bytes(header[:8], "little")])
    assert document["__metadata__"] == art.metadata
    codes = {"float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16", "int64": "I64"}
    for spec in TENSORS:
        assert document[spec.name]["dtype"] == codes[spec.dtype]
        assert document[spec.name]["shape"] == list(spec.shape)


def test_the_file_loads_with_safetensors_and_holds_the_generated_values(art, blob, tmp_path):
    path = tmp_path / "artifact.safetensors"
    path.write_bytes(blob)
    with safe_open(str(path), framework="np") as f:
        assert f.metadata() == art.metadata
        assert sorted(f.keys()) == sorted(t.name for t in TENSORS)
        for spec in TENSORS:
            got = f.get_tensor(spec.name)
            assert got.shape == spec.shape
            want = spec.out_dtype.to_float64(generate(spec, REQUEST.seed)).reshape(spec.shape)
            np.testing.assert_array_equal(got.astype(np.float64), want)
        assert f.get_tensor("bn.num_batches_tracked").dtype == np.int64


def test_the_file_without_bfloat16_loads_with_safetensors_numpy_load():
    tensors = tuple(t for t in TENSORS if t.dtype != "bfloat16")
    art = build(Request(7, tensors))
    loaded = load(art.to_bytes())
    for spec in tensors:
        want = spec.out_dtype.to_float64(generate(spec, 7)).reshape(spec.shape)
        np.testing.assert_array_equal(loaded[spec.name].astype(np.float64), want)


def test_stored_arrays_have_explicitly_little_endian_dtypes(art):
    # So their memory holds little-endian bytes on every host, big-endian ones included.
    for spec in TENSORS:
        assert art.stored[spec.name].dtype.str[0] == "<", spec.name
        assert art.stored[spec.name].dtype == spec.out_dtype.storage


def test_chunks_are_the_stored_little_endian_bytes(art):
    chunks = list(art.chunks())
    assert all(chunk.format == "B" for chunk in chunks)
    for chunk, entry in zip(chunks[1:], art.layout.entries, strict=True):
        assert bytes(chunk) == art.stored[entry.name].astype(art.stored[entry.name].dtype.newbyteorder("<")).tobytes()


# --- canonical JSON -----------------------------------------------------------------------------


def test_canonical_json_is_sorted_compact_and_ascii():
    value = {"b": [1, 2.5, {"z": None, "a": True}], "a": "é\n", "c": {"y": 1, "x": 2}}
    text = canonical_json(value)
    assert text == '{"a":"\\u00e9\\n","b":[1,2.5,{"a":true,"z":null}],"c":{"x":2,"y":1}}'
    assert text.isascii()
    assert json.loads(text) == value
    assert canonical_json(dict(reversed(list(value.items())))) == text


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_canonical_json_refuses_non_finite_numbers(bad):
    with pytest.raises(ValueError):
        canonical_json({"x": [bad]})


def test_request_canonical_json_and_totals():
    assert REQUEST.canonical_json == canonical_json(REQUEST.canonical())
    assert REQUEST.numel == sum(math.prod(t.shape) for t in TENSORS)
    assert REQUEST.nbytes == sum(t.nbytes for t in TENSORS)
    assert REQUEST.canonical()["tensors"][7]["fan_in"] == 4
    assert "fan_in" not in REQUEST.canonical()["tensors"][0]


# --- streaming: the same file without holding it -------------------------------------------------


BIG = Request(
    seed=5,
    tensors=(
        TensorSpec("big", (1100, 1000), "normal", {"std": 0.02}),
        TensorSpec("proj", (64, 32), "orthogonal", dtype="bfloat16"),
        TensorSpec("counter", (), "zeros", dtype="int64"),
    ),
)


@pytest.fixture(scope="module")
def big_bytes():
    return build(BIG).to_bytes()


def test_planned_files_stream_the_same_bytes_as_built_ones(big_bytes):
    planned = plan(BIG)
    assert planned.stored is None
    assert planned.size == len(big_bytes)
    assert planned.to_bytes() == big_bytes
    assert planned.sha256 == hashlib.sha256(big_bytes).digest()


@pytest.fixture(scope="module")
def big_plan():
    return plan(BIG)  # planning samples the header's summaries: once, not per drawn range


@settings(max_examples=80, deadline=None, derandomize=True)  # the same ranges on every run and machine
@given(bounds=st.tuples(st.integers(0, 4_500_000), st.integers(0, 4_500_000)))
def test_any_byte_range_is_the_slice_of_the_file(big_bytes, big_plan, bounds):
    start, stop = sorted(min(b, len(big_bytes)) for b in bounds)
    assert b"".join(big_plan.read(start, stop)) == big_bytes[start:stop]


def test_large_tensors_summarize_a_fixed_sample_in_their_header(big_bytes):
    runs = sample_runs(1_100_000)
    assert len(runs) == 256 and sum(b - a for a, b in runs) == SAMPLE_LIMIT
    assert runs[0][0] == 0 and runs[-1][1] == 1_100_000
    assert all(b <= c for (_, b), (c, _) in zip(runs, runs[1:], strict=False))
    summaries = json.loads(plan(BIG).metadata["diagnostics"])
    assert summaries["big"]["sample"] == {"elements": SAMPLE_LIMIT, "of": 1_100_000}
    assert summaries["big"]["expected_std"] == 0.02 and abs(summaries["big"]["std"] / 0.02 - 1) < 0.01
    assert "sample" not in summaries["proj"]


def _peak(work) -> int:
    """Most bytes numpy and Python held at once while ``work`` ran (tracemalloc sees both)."""
    import tracemalloc

    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "spec",
    [
        TensorSpec("u", (2048, 2048), "uniform"),
        TensorSpec("n", (2048, 2048), "normal", dtype="bfloat16"),
        TensorSpec("t", (2048, 2048), "truncated_normal", {"a": 3.0, "b": 5.0}, dtype="float16"),  # far tails
        TensorSpec("k", (1024, 1024), "kaiming_normal", dtype="float64"),
        pytest.param(TensorSpec("o", (1024, 1024), "orthogonal"), marks=pytest.mark.slow),  # ~5 s each
        TensorSpec("s", (1024, 1024), "sparse", {"sparsity": 0.9}),
        TensorSpec("tiny", (8, 8), "normal"),
    ],
    ids=lambda spec: spec.name,
)
@pytest.mark.parametrize("held", [True, False], ids=["held", "streamed"])
def test_working_bytes_bounds_the_measured_peak(spec, held):
    from service.core.artifact import working_bytes

    # A fresh spec per run: nothing a previous run built is reused.
    fresh = TensorSpec(spec.name, spec.shape, spec.scheme, dict(spec.params), dtype=spec.dtype)
    request = Request(7, (fresh,))

    def serve() -> None:
        artifact = build(request) if held else plan(request)
        if held:
            artifact.to_bytes()
        else:
            for _ in artifact.read():
                pass

    peak, bound = _peak(serve), working_bytes(request, held)
    assert peak <= bound
    assert bound <= 2 * peak + (128 << 20)  # a bound within one piece of the truth, not a refusal to serve
