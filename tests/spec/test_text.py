"""Text typed as the request language says: the one reading GET /init and the CLI share."""

import math

import pytest

from service.spec import text


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [("true", "bool", True), ("false", "bool", False), ("-3", "int", -3), ("2.5", "float", 2.5), ("x", "str", "x")],
)
def test_typed_reads_each_registry_kind(value, kind, expected):
    assert text.typed(value, kind) == expected


@pytest.mark.parametrize(("value", "kind"), [("True", "bool"), ("1.5", "int"), ("nan", "float"), ("inf", "float")])
def test_typed_refuses_what_is_not_of_its_kind(value, kind):
    with pytest.raises(ValueError):
        text.typed(value, kind)


def test_top_level_and_scheme_params_name_every_field_they_refuse():
    body: dict = {}
    problems: text.Problems = []
    text.top_level({"seed": "7", "shape": "8, 4,", "dtype": "float16", "fan_in": "x"}, body, problems)
    params = text.scheme_params("he_normal", {"a": "0.5", "mode": "fan_out", "nonlinearity": "relu"}, problems)
    assert body == {"seed": 7, "shape": [8, 4], "dtype": "float16"}
    assert params == {"a": 0.5, "mode": "fan_out", "nonlinearity": "relu"}
    assert problems == [("fan_in", "must be an integer, got 'x'")]
    assert text.scheme_params("truncated_normal", {"std": "wide"}, problems) == {}
    assert problems[-1] == ("scheme.std", "must be a float, got 'wide'")
    assert text.scheme_params("no-such-scheme", {"gain": "2"}, []) == {"gain": "2"}  # validation names the scheme
    assert math.isfinite(text.typed("1e308", "float"))
