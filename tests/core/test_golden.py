"""Golden vectors: committed known answers of initw-v1, checked on every run. They never change."""

import json
from pathlib import Path

import pytest

from service.core import kernels
from service.core.generate import TensorSpec, algorithm
from service.core.registry import REGISTRY
from tests.golden.make_v1 import DTYPES, answer, file_answer

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "v1.json").read_text())
FILES = json.loads((Path(__file__).parents[1] / "golden" / "v1_files.json").read_text())


@pytest.fixture(params=["compiled", "numpy"], autouse=True)
def path(request):
    """Every golden test runs on the compiled kernels (where built) and on the numpy reference."""
    if request.param == "numpy":
        with kernels.numpy():
            yield request.param
    else:
        if kernels.active() is None:
            pytest.skip(f"the compiled kernels are not active here: {kernels.describe()}")
        yield request.param


def spec_of(case: dict) -> TensorSpec:
    tensor = dict(case["tensor"])
    scheme = dict(tensor.pop("scheme"))
    return TensorSpec(scheme=scheme.pop("name"), params=scheme, **tensor)


@pytest.mark.parametrize("case_id", sorted(GOLDEN["cases"]))
def test_golden_case_reproduces_bit_for_bit(case_id):
    case = GOLDEN["cases"][case_id]
    assert answer(case["seed"], spec_of(case)) == case


def test_golden_file_covers_every_scheme_in_every_dtype():
    assert GOLDEN["algorithm"] == algorithm() == "initw-v1"
    covered = {(c["tensor"]["scheme"]["name"], c["tensor"]["dtype"]) for c in GOLDEN["cases"].values()}
    missing = {(name, dtype) for name in REGISTRY for dtype in DTYPES} - covered
    assert not missing, f"add golden cases (python -m tests.golden.make_v1) for {sorted(missing)}"


@pytest.mark.parametrize("case_id", sorted(FILES["cases"]))
def test_golden_file_reproduces_byte_for_byte(case_id):
    """The whole file, header included: its diagnostics carry the truncated normal's moments, which
    reach no tensor without correct_variance (a change there changes v1's files, not its tensors)."""
    case = FILES["cases"][case_id]
    assert file_answer(case["seed"], spec_of(case)) == case


def test_golden_files_are_cases_of_v1_json():
    assert FILES["algorithm"] == "initw-v1"
    for case_id, case in FILES["cases"].items():
        assert GOLDEN["cases"][case_id]["tensor"] == case["tensor"], case_id
