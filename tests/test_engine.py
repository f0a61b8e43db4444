"""service.engine: the one door into computation; what it adds is how reports become JSON."""

import json
import math

import numpy as np
import pytest

from service import engine
from service.engine import finite, report_text


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, np.float64("inf"), np.float64("nan")])
def test_finite_replaces_infinities_and_nan_by_none(bad):
    assert finite(bad) is None


def test_finite_reaches_into_dicts_and_lists_and_keeps_everything_else():
    report = {"std": 0.5, "max": math.inf, "rows": [1, -math.inf, {"q": math.nan, "ok": True}], "name": "w", "n": None}
    assert finite(report) == {"std": 0.5, "max": None, "rows": [1, None, {"q": None, "ok": True}], "name": "w",
                              "n": None}  # fmt: skip
    assert report["max"] == math.inf  # the input is not changed


@pytest.mark.parametrize("kept", [0, -7, 2**70, 1.5, -0.0, 1e308, 5e-324, "inf", True, None])
def test_finite_values_and_non_floats_pass_through(kept):
    assert finite(kept) == kept and type(finite(kept)) is type(kept)


def test_report_text_is_sorted_compact_json_with_null_for_non_finite_numbers():
    text = report_text({"b": [1.5, math.inf], "a": {"z": math.nan, "y": -math.inf}, "c": "é"})
    assert text == '{"a":{"y":null,"z":null},"b":[1.5,null],"c":"\\u00e9"}'
    assert json.loads(text) == {"a": {"y": None, "z": None}, "b": [1.5, None], "c": "é"}


def test_report_text_of_the_same_report_in_any_key_order_is_the_same_text():
    forward = {"verdict": "healthy", "mean": 0.1, "layers": [{"q": 1.0, "chi": 2.0}]}
    backward = {"layers": [{"chi": 2.0, "q": 1.0}], "mean": 0.1, "verdict": "healthy"}
    assert report_text(forward) == report_text(backward)
    assert " " not in report_text(forward)


def test_report_text_refuses_what_json_cannot_hold_rather_than_guessing():
    with pytest.raises(TypeError):
        report_text({"values": np.zeros(2)})


def test_every_public_name_of_the_facade_is_there():
    missing = [name for name in engine.__all__ if not hasattr(engine, name)]
    assert missing == []


def test_the_facade_builds_a_request_end_to_end():
    request = engine.Request(3, (engine.TensorSpec("w", (4, 2), "xavier_uniform"),))
    artifact = engine.build(request)
    assert artifact.size == len(artifact.to_bytes())
    bound = math.sqrt(6 / (4 + 2))
    values = engine.generate(engine.TensorSpec("w", (4, 2), "xavier_uniform"), 3)
    assert values.shape == (8,) and np.all(np.abs(values) <= bound)
    assert engine.canonical_json({"b": 1, "a": 2}) == '{"a":2,"b":1}'
