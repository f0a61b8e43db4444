"""service.spec.fields: the strict field types of the request language. pydantic's lax mode would
turn ``true`` into 1 and ``"5"`` into 5; these accept what the published schema calls an integer or
a number (an integral float counts as an integer, as in JSON Schema) and refuse the rest."""

import math

import pytest
from pydantic import TypeAdapter, ValidationError

from service.spec.fields import (
    MAX_SEED,
    NAME_PATTERN,
    Dim,
    Dtype,
    Fan,
    Layout,
    Name,
    Seed,
    Shape,
    strict_float,
    strict_int,
)


@pytest.mark.parametrize("value", [0, 1, -3, 2**80, 7.0, -2.0, 1e20])
def test_strict_int_takes_integers_and_integral_floats_as_ints(value):
    result = strict_int(value)
    assert type(result) is int and result == value


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (True, "boolean"),
        (False, "boolean"),
        ("5", "string"),
        (None, "integer"),
        ([1], "integer"),
        (2.5, "must be an integer"),
        (math.nan, "must be an integer"),
        (math.inf, "must be an integer"),
    ],
)
def test_strict_int_refuses_booleans_strings_and_fractions(value, words):
    with pytest.raises(ValueError, match=words):
        strict_int(value)


@pytest.mark.parametrize("value", [0, -1, 3, 0.5, -1e300, 5e-324, 2**1000])
def test_strict_float_takes_finite_numbers_as_floats(value):
    result = strict_float(value)
    assert type(result) is float and result == float(value)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (True, "boolean"),
        ("1.5", "string"),
        (None, "number"),
        (math.nan, "finite"),
        (math.inf, "finite"),
        (-math.inf, "finite"),
        (10**400, "float64 range"),  # a JSON integer has no size limit: json.loads gives this int
        (-(10**400), "float64 range"),
    ],
)
def test_strict_float_refuses_booleans_strings_non_finite_and_overflow(value, words):
    with pytest.raises(ValueError, match=words):
        strict_float(value)


def valid(kind, value):
    return TypeAdapter(kind).validate_python(value)


def refused(kind, value):
    with pytest.raises(ValidationError):
        TypeAdapter(kind).validate_python(value)


@pytest.mark.parametrize(("value", "ok"), [(0, True), (MAX_SEED, True), (2.0, True), (MAX_SEED + 1, False),
                                           (2.0**64, False), (-1, False), (True, False), ("0", False)])  # fmt: skip
def test_a_seed_is_an_unsigned_64_bit_integer(value, ok):
    if ok:
        assert valid(Seed, value) == value and type(valid(Seed, value)) is int
    else:
        refused(Seed, value)


@pytest.mark.parametrize("kind", [Dim, Fan])
def test_dims_and_fans_are_positive_up_to_2_to_the_40(kind):
    assert valid(kind, 1) == 1 and valid(kind, 2**40) == 2**40 and valid(kind, 3.0) == 3
    for bad in (0, -1, 2**40 + 1, False, "3", 1.5):
        refused(kind, bad)


def test_a_shape_is_a_list_of_dims_of_rank_at_most_8():
    assert valid(Shape, []) == [] and valid(Shape, [1] * 8) == [1] * 8
    refused(Shape, [1] * 9)
    refused(Shape, [2, 0])
    refused(Shape, [2, True])
    refused(Shape, 4)


@pytest.mark.parametrize("name", ["weight", "a" * 200, "layers.0/attn:q-proj_1", "0"])
def test_names_are_ascii_identifiers_with_separators(name):
    assert valid(Name, name) == name


@pytest.mark.parametrize("name", ["", "a" * 201, ".hidden", "a b", "wé", "__metadata__", "x\n"])
def test_other_names_and_the_reserved_metadata_key_are_refused(name):
    refused(Name, name)


def test_the_schema_of_a_name_states_its_pattern_and_that_metadata_is_reserved():
    schema = TypeAdapter(Name).json_schema()
    assert schema["pattern"] == NAME_PATTERN and schema["not"] == {"const": "__metadata__"}


def test_dtypes_and_layouts_are_the_cores_names_only():
    for dtype in ("float32", "float64", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"):
        assert valid(Dtype, dtype) == dtype
    for bad in ("int64", "F32", "F8_E4M3", "float8", "Float32"):
        refused(Dtype, bad)
    for layout in ("torch", "keras", "jax"):
        assert valid(Layout, layout) == layout
    refused(Layout, "caffe")
