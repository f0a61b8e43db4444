"""tests/golden/v1_dialects.json: every framework word still means what it meant when committed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from service.core import dialects
from service.core.generate import generate
from service.spec.request import InitRequest, to_request
from tests.golden import make_dialects

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "v1_dialects.json").read_text())["cases"]


@pytest.mark.parametrize("case_id", list(GOLDEN))
def test_a_committed_word_gives_its_committed_translation_and_bytes_through_the_request_language(case_id):
    case = GOLDEN[case_id]
    written = case["written"]
    scheme = {"name": written["name"], **written["params"]}
    tensor = {"name": "weight", "shape": written["shape"], "scheme": scheme}
    body = InitRequest.model_validate({"seed": case["seed"], "dialect": written["dialect"], "tensors": [tensor]})
    [spec] = to_request(body).tensors
    assert spec.canonical() == case["tensor"]
    data = np.ascontiguousarray(generate(spec, case["seed"])).astype("<f4").tobytes()
    assert hashlib.sha256(data).hexdigest() == case["sha256"]


def test_every_word_has_committed_vectors():
    words = {w.qualified for d in dialects.PREFIXES for w in dialects.by_dialect(d) if not w.unsupported}
    assert words <= set(GOLDEN), "run: python -m tests.golden.make_dialects"
    assert {case_id for case_id, *_ in make_dialects.cases()} == set(GOLDEN)
