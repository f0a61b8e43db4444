"""Same bytes in any process and on any SIMD path: every golden case in subprocesses that disable
numpy's AVX-512 and AVX2 kernels, where numpy's own log and exp change their bits."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
VARIANTS = {
    "native": None,
    "avx2": "AVX512_ICL AVX512_SPR X86_V4",
    "baseline": "AVX512_ICL AVX512_SPR X86_V4 X86_V3",
}

PROBE = r"""
import hashlib, json
import numpy as np
from tests.core.test_golden import GOLDEN, spec_of
from tests.golden.make_v1 import answer
from service.core.diagnose import diagnose
from service.core.generate import TensorSpec

out = {"cases": {cid: answer(c["seed"], spec_of(c))["sha256"] for cid, c in GOLDEN["cases"].items()}}
reports = [diagnose(TensorSpec("w", (300, 200), s, p), 1) for s, p in
           [("kaiming_normal", {}), ("orthogonal", {}), ("truncated_normal", {"a": 4.0, "b": 6.0, "bounds": "sigma"}),
            ("sparse", {"sparsity": 0.3})]]
out["diagnostics"] = hashlib.sha256(json.dumps(reports, sort_keys=True).encode()).hexdigest()
x = np.random.default_rng(0).random(1 << 20) + 0.5
out["numpy_log_f64"] = hashlib.sha256(np.log(x).tobytes()).hexdigest()
out["numpy_exp_f32"] = hashlib.sha256(np.exp(x.astype(np.float32)).tobytes()).hexdigest()
print(json.dumps(out))
"""


def run(disabled: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    if disabled:
        env["NPY_DISABLE_CPU_FEATURES"] = disabled
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def results():
    return {name: run(disabled) for name, disabled in VARIANTS.items()}


@pytest.mark.slow  # regenerates every golden case in new interpreters
def test_every_golden_case_has_the_same_bytes_on_every_simd_path(results):
    from tests.core.test_golden import GOLDEN

    expected = {cid: case["sha256"] for cid, case in GOLDEN["cases"].items()}
    for name, result in results.items():
        assert result["cases"] == expected, f"{name} differs"


@pytest.mark.slow  # shares the new interpreters of the test above
def test_diagnostics_are_as_reproducible_as_the_bytes(results):
    assert len({r["diagnostics"] for r in results.values()}) == 1


@pytest.mark.slow  # its fixture starts the new interpreters of the tests above (~5 s)
def test_the_variants_really_change_numpys_transcendentals(results):
    # Shows the test has teeth: the kernels it disables change np.log / np.exp bits on this CPU.
    from numpy._core._multiarray_umath import __cpu_features__

    if not (__cpu_features__.get("AVX512F") and __cpu_features__.get("AVX2")):
        pytest.skip("this CPU has no AVX-512 path to compare against")
    logs = {r["numpy_log_f64"] for r in results.values()}
    exps = {r["numpy_exp_f32"] for r in results.values()}
    assert len(logs) > 1 or len(exps) > 1
