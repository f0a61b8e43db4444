"""A framework word's invalid parameter is reported at its field (``scheme.mode``), never under the
union tag pydantic files it by (``scheme.keras.VarianceScaling.mode``), whether the name is qualified
or unqualified under the request's dialect."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from service.spec.errors import validation_errors
from service.spec.request import InitRequest

CASES = [
    ({"dialect": "keras", "shape": [8, 8], "scheme": {"name": "VarianceScaling", "mode": "fan_geo_avg"}},
     "scheme.mode"),
    ({"shape": [8, 8], "scheme": {"name": "keras.VarianceScaling", "mode": "fan_geo_avg"}}, "scheme.mode"),
    ({"dialect": "jax", "shape": [8, 8], "scheme": {"name": "he_normal", "fan": 1}}, "scheme.fan"),
    ({"dialect": "flax", "tensors": [{"name": "w", "shape": [4, 4], "scheme": {"name": "normal", "stddev": "x"}}]},
     "tensors.0.scheme.stddev"),
]  # fmt: skip


@pytest.mark.parametrize("body, field", CASES)
def test_a_words_parameter_is_reported_at_its_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        InitRequest.model_validate(body)
    assert [e.field for e in validation_errors(raised.value.errors(), body)] == [field]
