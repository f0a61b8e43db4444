"""Golden vectors: committed known answers of initw-v1, checked on every run. They never change."""

import json
from pathlib import Path

import pytest

from service.core.generate import TensorSpec, algorithm
from service.core.registry import REGISTRY
from tests.golden.make_v1 import DTYPES, answer

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "v1.json").read_text())


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
