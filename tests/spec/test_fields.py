"""service.spec.fields: the strict field types of the request language. pydantic's lax mode would
turn ``true`` into 1 and ``"5"`` into 5; these accept what the published schema calls an integer or
a number (an integral float counts as an integer, as in JSON Schema) and refuse the rest."""

import math
import re
import unicodedata

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


UNICODE_NAMES = [
    "blocks.0.attn.w\u00e9ight/\U0001f642",  # the golden vector name-unicode (NFC)
    "blocks.0.attn.we\u0301ight/\U0001f642",  # its NFD spelling: another name, not normalized
    "w\u00e9",
    "\u00e9tage",  # a non-ASCII first character
    "\u5c64.0.\u91cd\u307f",
    "\u0432\u0435\u0441",
    "\uff57\uff45\uff49\uff47\uff48\uff54",  # fullwidth: looks like "weight", is another name
    "e\u0301",
    "\U0001f600",
    "\u00e9" * 200,  # 200 characters, 400 UTF-8 bytes
    "\U0001f600" * 200,  # 800 UTF-8 bytes
    "a\ufe0f",  # a variation selector
    "\ue000x\U0010fffd",  # private use
]


@pytest.mark.parametrize("name", ["weight", "a" * 200, "layers.0/attn:q-proj_1", "0", "a/../../etc/passwd"])
def test_names_are_ascii_identifiers_with_separators(name):
    assert valid(Name, name) == name


@pytest.mark.parametrize("name", UNICODE_NAMES)
def test_names_may_hold_any_visible_non_ascii_character(name):
    """docs/ALGORITHM.md section 2: the key takes the UTF-8 bytes of any name, as given."""
    assert valid(Name, name) == name
    assert re.fullmatch(NAME_PATTERN, name)


INVISIBLE = {
    "soft hyphen": "\u00ad", "no-break space": "\u00a0", "C1 control": "\u0085", "Arabic letter mark": "\u061c",
    "ogham space": "\u1680", "Mongolian vowel separator": "\u180e", "en quad": "\u2000", "zero-width space": "\u200b",
    "zero-width joiner": "\u200d", "left-to-right mark": "\u200e", "right-to-left mark": "\u200f",
    "line separator": "\u2028", "paragraph separator": "\u2029", "right-to-left override": "\u202e",
    "narrow no-break space": "\u202f", "medium mathematical space": "\u205f", "word joiner": "\u2060",
    "first strong isolate": "\u2068", "ideographic space": "\u3000", "byte order mark": "\ufeff",
    "interlinear annotation": "\ufff9", "tag letter A": "\U000e0041", "cancel tag": "\U000e007f",
}  # fmt: skip


@pytest.mark.parametrize("label", INVISIBLE)
def test_controls_spaces_and_invisible_format_characters_are_refused(label):
    refused(Name, f"fc{INVISIBLE[label]}.weight")
    refused(Name, f"{INVISIBLE[label]}weight")


def test_every_refused_non_ascii_character_is_a_control_space_or_format_character():
    """The ranges NAME_PATTERN leaves out refuse only characters nobody can see or tell apart:
    Unicode categories Cc, Cf, Zs, Zl, Zp, Cs, and code points still unassigned inside those ranges."""
    name = re.compile(NAME_PATTERN)
    for code in range(0x80, 0x110000):
        char = chr(code)
        if not name.fullmatch(char):
            assert unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp", "Cs", "Cn"), hex(code)


@pytest.mark.parametrize(
    "name", ["", "a" * 201, "\u00e9" * 201, ".hidden", "-flag", "/abs", ":x", "a b", "a\\b", "a%2F", "__metadata__",
             "x\n", "a\x00b", "a\x7fb", "x\ud800"],
)  # fmt: skip
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
