"""Text typed as the request language says: the one reading GET /init and the CLI share."""

import math

import pytest

from service.spec import text
from service.spec.request import TensorFields


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [("true", "bool", True), ("false", "bool", False), ("-3", "int", -3), ("2.5", "float", 2.5), ("x", "str", "x")],
)
def test_typed_reads_each_registry_kind(value, kind, expected):
    assert text.typed(value, kind) == expected


@pytest.mark.parametrize(
    ("value", "kind"),
    [("True", "bool"), ("1.5", "int"), ("nan", "float"), ("inf", "float"), ("1_0", "float"), ("1_0", "int"),
     (".5", "float"), ("+1", "int"), ("007", "int"), (" 7", "int"), ("\u0663", "int"), ("1e5", "int")],
)  # fmt: skip
def test_typed_refuses_what_is_not_of_its_kind(value, kind):
    with pytest.raises(ValueError):
        text.typed(value, kind)


def test_shorthand_text_and_scheme_params_name_every_field_they_refuse():
    problems: text.Problems = []
    body = text.body_from_text({"seed": "7", "shape": "8, 4", "dtype": "float16", "fan_in": "x"}, {}, problems)
    params = text.scheme_params("he_normal", {"a": "0.5", "mode": "fan_out", "nonlinearity": "relu"}, problems)
    assert body == {"seed": 7, "shape": [8, 4], "dtype": "float16"}
    assert params == {"a": 0.5, "mode": "fan_out", "nonlinearity": "relu"}
    assert problems == [("fan_in", "must be an integer, got 'x'")]
    assert text.scheme_params("truncated_normal", {"std": "wide"}, problems) == {}
    assert problems[-1] == ("scheme.std", "must be a float, got 'wide'")
    assert text.scheme_params("no-such-scheme", {"gain": "2"}, []) == {"gain": "2"}  # validation names the scheme
    assert math.isfinite(text.typed("1e308", "float"))


def test_the_shorthand_is_made_from_the_tensor_fields_and_typed_by_their_schema():
    """A field added to TensorFields is a query parameter and a CLI flag, read as its type says."""
    names = [field.name for field in text.SHORTHAND]
    assert set(names) == {*TensorFields.model_fields, "seed", "layout", "dialect"}
    kinds = {field.name: field.kind for field in text.SHORTHAND}
    assert kinds == {"shape": "dims", "scheme": "scheme", "name": "str", "dtype": "str", "fan_in": "int",
                     "fan_out": "int", "header": "str", "seed": "int", "layout": "str", "dialect": "str"}  # fmt: skip
    assert [field.name for field in text.SHORTHAND if field.required] == ["shape", "scheme"]
    dtype = next(field for field in text.SHORTHAND if field.name == "dtype")
    assert dtype.choices[0] == "float32" and "bfloat16" in dtype.choices  # the default first
    assert next(field for field in text.SHORTHAND if field.name == "fan_in").flag == "--fan-in"


def test_text_becomes_the_body_a_client_would_send():
    problems: text.Problems = []
    body = text.body_from_text({"shape": "3,2", "scheme": "he_normal"}, {"mode": "fan_out"}, problems, {"seed": 4})
    assert body == {"seed": 4, "shape": [3, 2], "scheme": {"name": "he_normal", "mode": "fan_out"}} and not problems
    assert text.body_from_text({"scheme": "zeros"}, {}, problems) == {"scheme": "zeros"}
    assert text.body_from_text({}, {"std": "2"}, problems) == {}
    assert problems == [("scheme", "scheme parameters need a scheme")]


def test_a_key_given_twice_is_a_problem_named_by_its_field():
    query, problems = text.single([("seed", "1"), ("seed", "2"), ("gain", "1"), ("gain", "2"), ("a", "0")], ["seed"])
    assert problems == [("seed", "given more than once"), ("scheme.gain", "given more than once")]
    assert query["a"] == "0"


@pytest.mark.parametrize("shape", ["4,,4", "4,4,", ",4", "4;4", ""])
def test_a_shape_in_text_has_no_empty_item_as_a_json_array_has_none(shape):
    problems: text.Problems = []
    text.body_from_text({"shape": shape, "scheme": "normal"}, {}, problems)
    assert [field for field, _ in problems] == ["shape"]
