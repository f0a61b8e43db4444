"""The request body: three ways to name tensors, strict field types, errors with field paths."""

import json
import math

import pytest
from pydantic import ValidationError

from service.core.errors import InitError
from service.core.registry import REGISTRY
from service.spec.request import InitRequest, to_request


def request(body: dict):
    return to_request(InitRequest.model_validate(body))


def refused(body: dict) -> list[dict]:
    """The pydantic errors of an invalid body."""
    with pytest.raises(ValidationError) as info:
        InitRequest.model_validate(body)
    return info.value.errors()


def core_error(body: dict) -> InitError:
    """The InitError to_request raises for a body pydantic accepts."""
    parsed = InitRequest.model_validate(body)
    with pytest.raises(InitError) as info:
        to_request(parsed)
    return info.value


SHORT = {"shape": [4, 3], "scheme": "zeros"}


# --- three ways to name tensors -----------------------------------------------------------------


def test_the_shorthand_gives_one_tensor_named_weight():
    req = request({"seed": 5, "shape": [4, 3], "scheme": "xavier_uniform"})
    assert req.seed == 5
    [spec] = req.tensors
    assert (spec.name, spec.shape, spec.scheme, spec.dtype, spec.layout) == (
        "weight",
        (4, 3),
        "xavier_uniform",
        "float32",
        "torch",
    )


def test_the_shorthand_takes_its_name_and_fans_from_the_top_level():
    [spec] = request({"shape": [8], "scheme": "xavier_uniform", "name": "enc.w", "fan_in": 3, "fan_out": 5}).tensors
    assert (spec.name, spec.fan_in, spec.fan_out) == ("enc.w", 3, 5)


def test_shorthand_then_tensors_then_layers_combine_in_that_order():
    req = request(
        {
            "shape": [2, 2],
            "scheme": "ones",
            "name": "top",
            "tensors": [
                {"name": "t1", "shape": [3], "scheme": "zeros"},
                {"name": "t0", "shape": [3], "scheme": "zeros"},
            ],
            "layers": [
                {"type": "linear", "name": "fc", "in_features": 3, "out_features": 2},
                {"type": "layernorm", "name": "ln", "normalized_shape": 2},
            ],
        }
    )
    assert [t.name for t in req.tensors] == ["top", "t1", "t0", "fc.weight", "fc.bias", "ln.weight", "ln.bias"]


def test_per_tensor_dtype_overrides_the_request_dtype_and_layout_applies_to_every_tensor():
    req = request(
        {
            "dtype": "float16",
            "layout": "keras",
            "tensors": [
                {"name": "a", "shape": [2, 3], "scheme": "glorot_uniform"},
                {"name": "b", "shape": [2, 3], "scheme": "glorot_uniform", "dtype": "bfloat16"},
            ],
            "layers": [{"type": "linear", "name": "fc", "in_features": 3, "out_features": 2, "dtype": "float64"}],
        }
    )
    dtypes = {t.name: t.dtype for t in req.tensors}
    assert dtypes == {"a": "float16", "b": "bfloat16", "fc.weight": "float64", "fc.bias": "float64"}
    assert {t.layout for t in req.tensors} == {"keras"}
    assert {t.name: t.shape for t in req.tensors}["fc.weight"] == (3, 2)  # keras: [in, out]


def test_defaults_are_seed_0_float32_torch():
    [spec] = request(SHORT).tensors
    assert request(SHORT).seed == 0
    assert (spec.dtype, spec.layout) == ("float32", "torch")


def test_canonical_lists_every_scheme_parameter_with_its_default():
    canonical = request({"seed": 1, "shape": [6, 5], "scheme": {"name": "he_normal", "mode": "fan_out"}}).canonical()
    assert canonical == {
        "algorithm": "initw-v1",
        "seed": 1,
        "tensors": [
            {
                "name": "weight",
                "shape": [6, 5],
                "dtype": "float32",
                "layout": "torch",
                "scheme": {"name": "kaiming_normal", "a": 0.0, "mode": "fan_out", "nonlinearity": "leaky_relu"},
            }
        ],
    }


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_canonical_scheme_names_every_parameter_of_the_registered_scheme(name):
    required = {"constant": {"value": 0.5}, "sparse": {"sparsity": 0.5}}.get(name, {})
    shape = {"dirac": [4, 4, 3], "delta_orthogonal": [4, 4, 3]}.get(name, [4, 4])
    [tensor] = request({"shape": shape, "scheme": {"name": name, **required}}).canonical()["tensors"]
    scheme = REGISTRY[name]
    assert tensor["scheme"]["name"] == name
    # Implicit parameters (added after v1's vectors) appear only when given: old requests keep their bytes.
    assert set(tensor["scheme"]) == {"name", *(p.name for p in scheme.params if not p.implicit)}
    for param in scheme.params:
        if param.implicit:
            continue
        expected = required[param.name] if param.required else param.default
        assert tensor["scheme"][param.name] == expected


def test_the_same_request_in_any_spelling_has_the_same_canonical_form():
    short = request({"shape": [3, 3], "scheme": "glorot_uniform"})
    spelled_out = request(
        {
            "seed": 0,
            "dtype": "float32",
            "layout": "torch",
            "tensors": [],
            "shape": [3.0, 3],
            "scheme": {"name": "xavier_uniform", "gain": 1},
        }
    )
    assert short.canonical_json == spelled_out.canonical_json


# --- strict types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, loc",
    [
        ({**SHORT, "seed": True}, ("seed",)),
        ({**SHORT, "seed": False}, ("seed",)),
        ({**SHORT, "seed": "5"}, ("seed",)),
        ({**SHORT, "seed": 2.5}, ("seed",)),
        ({**SHORT, "seed": None}, ("seed",)),
        ({**SHORT, "seed": -1}, ("seed",)),
        ({"shape": [4, True], "scheme": "zeros"}, ("shape", 1)),
        ({"shape": ["4", 3], "scheme": "zeros"}, ("shape", 0)),
        ({"shape": [4, 0], "scheme": "zeros"}, ("shape", 1)),
        ({"shape": [4, 1.5], "scheme": "zeros"}, ("shape", 1)),
        ({"shape": [1] * 9, "scheme": "zeros"}, ("shape",)),
        ({**SHORT, "fan_in": True}, ("fan_in",)),
        ({**SHORT, "fan_out": "3"}, ("fan_out",)),
        ({**SHORT, "fan_in": 0}, ("fan_in",)),
        ({"shape": [2, 2], "scheme": {"name": "uniform", "a": True}}, ("scheme", "uniform", "a")),
        ({"shape": [2, 2], "scheme": {"name": "uniform", "b": "1.5"}}, ("scheme", "uniform", "b")),
        ({"shape": [2, 2], "scheme": {"name": "normal", "std": False}}, ("scheme", "normal", "std")),
        ({"shape": [2, 2, 2], "scheme": {"name": "dirac", "groups": True}}, ("scheme", "dirac", "groups")),
        ({"shape": [2, 2, 2], "scheme": {"name": "dirac", "groups": "1"}}, ("scheme", "dirac", "groups")),
        ({"shape": [2, 2, 2], "scheme": {"name": "dirac", "groups": 1.5}}, ("scheme", "dirac", "groups")),
        ({"shape": [2, 2], "scheme": {"name": "truncated_normal", "correct_variance": 1}}, None),
        ({"shape": [2, 2], "scheme": {"name": "kaiming_normal", "mode": 1}}, None),
        ({"tensors": [{"name": "a", "shape": [2, False], "scheme": "zeros"}]}, ("tensors", 0, "shape", 1)),
        ({"tensors": [{"name": "a", "shape": [2], "scheme": "zeros", "fan_in": "2"}]}, ("tensors", 0, "fan_in")),
        ({"layers": [{"type": "linear", "name": "l", "in_features": True, "out_features": 2}]}, None),
        ({"layers": [{"type": "linear", "name": "l", "in_features": 2, "out_features": "2"}]}, None),
        ({"layers": [{"type": "linear", "name": "l", "in_features": 2, "out_features": 2, "bias": 1}]}, None),
    ],
)
def test_booleans_numeric_strings_and_fractions_are_refused_where_numbers_are_expected(body, loc):
    errors = refused(body)
    if loc is not None:
        assert [e["loc"][: len(loc)] for e in errors] == [loc]


def test_floats_with_an_integral_value_are_accepted_as_integers():
    body = {"seed": 2.0, "shape": [2.0, 2, 3.0], "scheme": {"name": "dirac", "groups": 1.0}, "fan_in": 2.0}
    parsed = InitRequest.model_validate(body)
    assert parsed.seed == 2 and type(parsed.seed) is int
    assert parsed.shape == [2, 2, 3] and all(type(d) is int for d in parsed.shape)
    assert parsed.fan_in == 2 and type(parsed.fan_in) is int
    assert parsed.scheme.groups == 1 and type(parsed.scheme.groups) is int
    assert json.loads(to_request(parsed).canonical_json)["tensors"][0]["shape"] == [2, 2, 3]


def test_integers_are_accepted_for_float_parameters_and_become_floats():
    parsed = InitRequest.model_validate({"shape": [2, 2], "scheme": {"name": "uniform", "a": -1, "b": 2}})
    assert (parsed.scheme.a, parsed.scheme.b) == (-1.0, 2.0)
    assert type(parsed.scheme.a) is float


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    "where",
    [
        lambda v: {"shape": [2, 2], "scheme": {"name": "uniform", "a": v}},
        lambda v: {"shape": [2, 2], "scheme": {"name": "normal", "std": v}},
        lambda v: {"shape": [2, 2], "scheme": {"name": "constant", "value": v}},
        lambda v: {**SHORT, "seed": v},
        lambda v: {"shape": [2, v], "scheme": "zeros"},
        lambda v: {**SHORT, "fan_in": v},
    ],
)
def test_nan_and_infinities_are_refused(bad, where):
    # json.loads accepts NaN and Infinity, so the models must refuse them themselves.
    assert math.isnan(json.loads("NaN")) and json.loads("Infinity") == math.inf
    refused(where(bad))


@pytest.mark.parametrize("literal", ["1" + "0" * 400, "-" + "9" * 320], ids=["1e400", "-1e320"])
def test_an_integer_too_large_for_a_float_is_a_validation_error(literal):
    value = json.loads(literal)  # JSON integers have no size limit; json.loads gives a Python int
    refused({"shape": [2, 2], "scheme": {"name": "uniform", "b": value}})


@pytest.mark.parametrize("seed, ok", [(0, True), (2**64 - 1, True), (2**64, False), (2.0**64, False), (-1, False)])
def test_seed_is_an_unsigned_64_bit_integer(seed, ok):
    body = {**SHORT, "seed": seed}
    if ok:
        assert request(body).seed == seed
        assert json.loads(request(body).canonical_json)["seed"] == seed
    else:
        refused(body)


@pytest.mark.parametrize(
    "name, ok",
    [
        ("weight", True),
        ("encoder.layers.0.attn/q_proj:0", True),
        ("_private-1", True),
        ("0", True),
        ("a" * 200, True),
        ("a" * 201, False),
        ("", False),
        ("has space", False),
        ("tab\t", False),
        ("trailing\n", False),
        ("émoji", True),  # visible non-ASCII characters: docs/ALGORITHM.md section 2
        ("ｗeight", True),  # fullwidth w: another name than "weight"
        ("٣", True),  # Arabic-Indic digit
        ("zero\u200bwidth", False),  # invisible format characters, controls and spaces are not
        ("\u202eright-to-left", False),
        ("no\u00a0break", False),
        ("c1\u0085control", False),
        ("backslash\\", False),
        (".hidden", False),
        ("-dash", False),
        ("/root", False),
    ],
)
def test_names_are_limited_to_visible_characters_and_200_characters(name, ok):
    for body in ({**SHORT, "name": name}, {"tensors": [{"name": name, "shape": [2], "scheme": "zeros"}]}):
        if ok:
            InitRequest.model_validate(body)
        else:
            refused(body)


@pytest.mark.parametrize(
    "body, param",
    [
        ({**SHORT, "tensors": [{"name": "weight", "shape": [1], "scheme": "zeros"}]}, "tensors.0.name"),
        (
            {
                "tensors": [
                    {"name": "a", "shape": [1], "scheme": "zeros"},
                    {"name": "b", "shape": [1], "scheme": "zeros"},
                    {"name": "a", "shape": [2], "scheme": "ones"},
                ]
            },
            "tensors.2.name",
        ),
        (
            {
                "tensors": [{"name": "fc.bias", "shape": [2], "scheme": "zeros"}],
                "layers": [{"type": "linear", "name": "fc", "in_features": 3, "out_features": 2}],
            },
            "layers.0.name",
        ),
        (
            {
                "layers": [
                    {"type": "layernorm", "name": "n", "normalized_shape": 4},
                    {"type": "batchnorm", "name": "n", "num_features": 4},
                ]
            },
            "layers.1.name",
        ),
    ],
)
def test_duplicate_names_are_refused_naming_the_second_occurrence(body, param):
    error = core_error(body)
    assert error.param == param
    assert error.allowed == "unique names"


@pytest.mark.parametrize(
    "body",
    [
        {**SHORT, "name": "__metadata__"},
        {"tensors": [{"name": "__metadata__", "shape": [2], "scheme": "zeros"}]},
    ],
    ids=["shorthand", "tensors"],
)
def test_a_tensor_named_metadata_is_refused_before_generation(body):
    # safetensors reserves the key for the header's metadata; write.layout refuses it with a plain ValueError.
    with pytest.raises((ValidationError, InitError)):
        to_request(InitRequest.model_validate(body))


@pytest.mark.parametrize(
    "body, loc",
    [
        ({**SHORT, "extra": 1}, ("extra",)),
        ({**SHORT, "Seed": 1}, ("Seed",)),
        ({"tensors": [{"name": "a", "shape": [1], "scheme": "zeros", "init": "x"}]}, ("tensors", 0, "init")),
        ({"shape": [2, 2], "scheme": {"name": "uniform", "c": 1}}, ("scheme", "uniform", "c")),
        ({"shape": [2, 2], "scheme": {"name": "zeros", "value": 0}}, ("scheme", "zeros", "value")),
        ({"layers": [{"type": "embedding", "name": "e", "num_embeddings": 2, "embedding_dim": 2, "bias": True}]}, None),
        ({"layers": [{"type": "linear", "name": "l", "in_features": 2, "out_features": 2, "groups": 1}]}, None),
    ],
)
def test_unknown_fields_are_refused(body, loc):
    errors = refused(body)
    assert errors[0]["type"] == "extra_forbidden"
    if loc is not None:
        assert errors[0]["loc"] == loc


@pytest.mark.parametrize(
    "body",
    [
        {"seed": 1},
        {"shape": [2, 2]},
        {"scheme": "zeros", "tensors": [{"name": "a", "shape": [1], "scheme": "zeros"}]},
        {"name": "x", "tensors": [{"name": "a", "shape": [1], "scheme": "zeros"}]},
        {"fan_in": 2, "layers": [{"type": "linear", "name": "l", "in_features": 2, "out_features": 2}]},
        {"shape": [2, 2], "scheme": "no_such_scheme"},
        {"shape": [2, 2], "scheme": {"gain": 1.0}},
        {**SHORT, "dtype": "int32"},  # not a dtype initw writes
        {**SHORT, "layout": "tensorflow"},
    ],
)
def test_incomplete_or_unknown_requests_are_refused(body):
    refused(body)


def test_int64_holds_only_integral_constants():
    """int64 is for counters (BatchNorm's num_batches_tracked; service.torch writes them too)."""
    [counter] = request({**SHORT, "dtype": "int64"}).tensors
    assert counter.dtype == "int64" and counter.plan is not None
    with pytest.raises(InitError, match="holds only constant integers") as error:
        request({"shape": [4, 3], "scheme": "normal", "dtype": "int64"})
    assert error.value.param == "dtype"


# --- errors from the core come back with the request's field path ------------------------------


@pytest.mark.parametrize(
    "body, param",
    [
        ({"shape": [2, 2], "scheme": {"name": "uniform", "a": 1, "b": 1}}, "scheme.b"),
        (
            {"tensors": [{"name": "a", "shape": [2, 2], "scheme": {"name": "uniform", "a": 2, "b": 1}}]},
            "tensors.0.scheme.b",
        ),
        (
            {
                "tensors": [
                    {"name": "a", "shape": [2, 2], "scheme": "zeros"},
                    {"name": "b", "shape": [2, 2], "scheme": {"name": "uniform", "a": 2, "b": 1}},
                ]
            },
            "tensors.1.scheme.b",
        ),
        ({"tensors": [{"name": "a", "shape": [4], "scheme": "xavier_uniform"}]}, "tensors.0.shape"),
        ({"shape": [4], "scheme": "kaiming_normal"}, "shape"),
        ({"tensors": [{"name": "a", "shape": [4, 4], "scheme": "dirac"}]}, "tensors.0.shape"),
        (
            {
                "layers": [
                    {
                        "type": "linear",
                        "name": "fc",
                        "in_features": 3,
                        "out_features": 2,
                        "bias_init": {"name": "uniform", "a": 1, "b": 0},
                    }
                ]
            },
            "layers.0.bias_init.b",
        ),
        (
            {
                "layers": [
                    {"type": "layernorm", "name": "ln", "normalized_shape": 3},
                    {
                        "type": "conv2d",
                        "name": "c",
                        "in_channels": 3,
                        "out_channels": 2,
                        "kernel_size": 3,
                        "weight_init": {"name": "uniform", "a": 0, "b": 0},
                    },
                ]
            },
            "layers.1.weight_init.b",
        ),
        (
            {
                "layers": [
                    {
                        "type": "embedding",
                        "name": "e",
                        "num_embeddings": 3,
                        "embedding_dim": 2,
                        "weight_init": {"name": "truncated_normal", "a": 1, "b": -1},
                    }
                ]
            },
            "layers.0.weight_init.b",
        ),
    ],
)
def test_core_errors_name_the_request_field(body, param):
    error = core_error(body)
    assert error.param == param
    assert error.allowed


def test_a_fan_based_scheme_on_a_1d_tensor_works_with_explicit_fans():
    [spec] = request(
        {"tensors": [{"name": "a", "shape": [4], "scheme": "xavier_uniform", "fan_in": 4, "fan_out": 4}]}
    ).tensors
    assert spec.plan.theory.std > 0


def test_a_keras_layout_1d_tensor_has_keras_fans():
    # Keras computes fan = shape[0] for 1-D tensors; torch and jax refuse.
    [spec] = request({"layout": "keras", "shape": [4], "scheme": "glorot_uniform"}).tensors
    assert spec.plan.theory.high == pytest.approx(math.sqrt(6 / 8))
    assert core_error({"layout": "jax", "shape": [4], "scheme": "glorot_uniform"}).param == "shape"
