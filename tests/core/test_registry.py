"""service/core/registry.py: parameters, plans, the scheme decorator; and what every registered scheme
promises, table-driven from the examples each scheme declares beside its formula (as JAX's tests run
every initializer over shapes and dtypes): its example is a golden case and fills every dtype and
layout, any shape either fills or is refused at a named field, and bad parameters are refused by name.
"""

import json
import math

import numpy as np
import pytest

from service.core.distributions import Constant
from service.core.errors import InitError
from service.core.fans import LAYOUTS
from service.core.generate import float64_values, tensor
from service.core.registry import (
    REGISTRY,
    Context,
    Elementwise,
    Example,
    Param,
    Placed,
    Whole,
    all_names,
    get_scheme,
    scheme,
)
from service.core.schemes.basic import zeros
from tests.golden import make_v1

from .schemes.support import DTYPES, Refusal, assert_refused, shape_in, spec

# --- parameters --------------------------------------------------------------------------------


def test_a_parameter_says_what_it_allows_in_words():
    assert Param("p", "float", exclusive_minimum=0.0).allowed() == "a finite number > 0"
    assert Param("p", "float", minimum=0.0, exclusive_maximum=1.0).allowed() == "a finite number >= 0 and < 1"
    assert Param("p", "int", minimum=1).allowed() == "an integer >= 1"
    assert Param("p", "str", choices=("x", "y")).allowed() == "one of x, y"
    assert Param("p", "bool").allowed() == "true or false"
    assert Param("p", "float").required and not Param("p", "float", 0.0).required


@pytest.mark.parametrize(
    ("param", "value", "canonical"),
    [
        (Param("p", "float"), 2, 2.0),
        (Param("p", "int"), 3.0, 3),
        (Param("p", "bool"), False, False),
        (Param("p", "str", choices=("fan_in", "fan_out"), casefold=True), "Fan_Out", "fan_out"),
        (Param("p", "str", choices=("normal",), synonyms={"untruncated_normal": "normal"}), "untruncated_normal",
         "normal"),
    ],
)  # fmt: skip
def test_a_valid_value_becomes_its_canonical_form(param, value, canonical):
    validated = param.validate(value)
    assert validated == canonical and type(validated) is type(canonical)


@pytest.mark.parametrize(
    ("param", "value"),
    [
        (Param("p", "float"), True),  # a bool is not a number
        (Param("p", "float"), math.inf),
        (Param("p", "float"), "1.0"),
        (Param("p", "int"), 2.5),
        (Param("p", "bool"), 1),
        (Param("p", "str", choices=("fan_in",)), "FAN_IN"),  # case matters unless casefold
        (Param("p", "float", exclusive_minimum=0.0), 0.0),
        (Param("p", "float", maximum=1.0), 1.5),
    ],
)
def test_an_invalid_value_is_refused_naming_the_parameter_and_what_it_allows(param, value):
    with pytest.raises(InitError) as error:
        param.validate(value)
    assert error.value.param == "p" and error.value.allowed == param.allowed()


# --- context and plans -------------------------------------------------------------------------


def test_a_context_has_its_shapes_fans_unless_given_others():
    ctx = Context((6, 4, 3))
    assert (ctx.fans.fan_in, ctx.fans.fan_out, ctx.numel) == (12, 18, 72)
    assert Context((4, 6), "keras").fans.fan_in == 4


def test_an_elementwise_plan_without_words_fills():
    np.testing.assert_array_equal(Elementwise(Constant(1.5)).values(key=7, start=3, stop=8), np.full(5, 1.5))


def test_a_placed_plan_puts_its_value_at_its_positions_in_any_range():
    plan = Placed(np.array([9, 2, 5]), 2.0, Constant(0.0).theory)
    whole = plan.values(0, 0, 12)
    np.testing.assert_array_equal(np.flatnonzero(whole), [2, 5, 9])
    for start, stop in [(0, 3), (3, 9), (5, 6), (10, 12)]:
        np.testing.assert_array_equal(plan.values(0, start, stop), whole[start:stop])


def test_a_whole_plan_builds_once_per_key_and_serves_slices():
    built = []

    def build(key):
        built.append(key)
        return np.arange(6.0).reshape(2, 3) + key

    plan = Whole(build, Constant(0.0).theory)
    np.testing.assert_array_equal(plan.values(1, 2, 5), [3.0, 4.0, 5.0])
    np.testing.assert_array_equal(plan.values(1, 0, 2), [1.0, 2.0])
    np.testing.assert_array_equal(plan.values(5, 0, 1), [5.0])
    assert built == [1, 5] and not plan.random_access


# --- schemes: resolving, rank, registration ------------------------------------------------------


def test_resolve_fills_defaults_and_refuses_unknown_or_missing_parameters():
    assert get_scheme("kaiming_normal").resolve({"mode": "FAN_OUT"}) == {
        "a": 0.0,
        "mode": "fan_out",
        "nonlinearity": "leaky_relu",
    }
    with pytest.raises(InitError, match="has no parameter 'gian'; it takes gain") as error:
        get_scheme("xavier_normal").resolve({"gian": 2.0})
    assert error.value.param == "gian"
    with pytest.raises(InitError, match="needs parameter 'value'") as error:
        get_scheme("constant").resolve({})
    assert error.value.param == "value"
    with pytest.raises(InitError, match="it takes no parameters"):
        get_scheme("zeros").resolve({"value": 1})


def test_a_scheme_refuses_a_rank_outside_its_range():
    eye = get_scheme("eye")
    eye.check_rank((3, 3))
    with pytest.raises(InitError, match="supports tensors with 2 dimensions, got shape \\[3\\]") as error:
        eye.check_rank((3,))
    assert error.value.param == "shape"
    get_scheme("normal").check_rank(())  # no range: any rank


@pytest.mark.parametrize("name", ["zeros", "zero"])
def test_a_name_or_alias_registers_once(name):
    before = dict(REGISTRY)
    with pytest.raises(RuntimeError, match="registered twice"):
        scheme(name, family="constant", example=Example((1,)))(zeros)
    assert REGISTRY == before


def test_names_and_aliases_resolve_to_their_scheme_and_unknown_names_are_refused():
    assert get_scheme("he_normal") is get_scheme("kaiming_normal") is REGISTRY["kaiming_normal"]
    names = all_names()
    assert names == sorted(names) and set(REGISTRY) < set(names)
    with pytest.raises(InitError, match="unknown scheme 'xavier'") as error:
        get_scheme("xavier")
    assert error.value.param == "name" and error.value.allowed == ", ".join(names)


# --- every registered scheme, from its example ----------------------------------------------------


def test_every_registered_scheme_has_an_example_and_a_documented_formula():
    for registered in REGISTRY.values():
        assert isinstance(registered.example, Example), f"{registered.name} declares no example"
        assert registered.summary and "\n" not in registered.summary
        assert len(registered.doc.split("\n\n")) >= 2, f"{registered.name} docstring needs a reference paragraph"
        for alias in registered.aliases:
            assert get_scheme(alias) is registered
    assert {"glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "msra"} <= set(all_names())


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_example_plans_and_spells_out_only_its_schemes_parameters(name):
    example = REGISTRY[name].example
    assert set(example.params) <= {p.name for p in REGISTRY[name].params}
    assert {p.name for p in REGISTRY[name].params if p.required} <= set(example.params)
    plan = spec(name, example.shape, example.params, layout=example.layout).plan
    assert plan.random_access == REGISTRY[name].random_access  # what GET /schemes says of it


def test_every_example_is_committed_as_golden_cases_in_every_dtype():
    """tests/golden/make_v1.py appends each example's cases: a new scheme's are missing until it runs,
    and an example edited after its cases were committed no longer matches them."""
    committed = json.loads(make_v1.PATH.read_text())["cases"]
    for case_id, seed, wanted in make_v1.cases():
        assert case_id in committed, f"{case_id}: append the golden cases, python -m tests.golden.make_v1"
        assert (committed[case_id]["seed"], committed[case_id]["tensor"]) == (seed, wanted.canonical()), case_id
    examples = {(name, dtype) for name in REGISTRY for dtype in make_v1.DTYPES}
    assert examples <= {(c["tensor"]["scheme"]["name"], c["tensor"]["dtype"]) for c in committed.values()}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_scheme_fills_every_dtype_and_layout(name, dtype, layout):
    example = REGISTRY[name].example
    shape = shape_in(example, layout)
    request = spec(name, shape, example.params, dtype, layout)
    out = tensor(request, seed=3)
    assert out.shape == shape
    bytes_of = {"float32": np.float32, "float64": np.float64, "float8_e4m3fn": np.uint8, "float8_e5m2": np.uint8}
    assert out.dtype == bytes_of.get(dtype, np.uint16)
    assert np.isfinite(request.out_dtype.to_float64(out.reshape(-1))).all()
    # One rounding from float64: the stored values are exactly the rounded float64 values.
    np.testing.assert_array_equal(out.reshape(-1), request.out_dtype.round(float64_values(request, seed=3)))


SHAPES = [(), (1,), (5,), (1, 1), (4, 6), (6, 4), (2, 3, 4), (6, 3, 3), (4, 2, 3, 3), (2, 3, 4, 5), (4, 1, 2, 1, 3)]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_shape_either_fills_or_is_refused_at_a_named_field(name):
    registered = REGISTRY[name]
    low, high = registered.rank or (0, math.inf)
    for layout in LAYOUTS:
        for shape in SHAPES:
            request = spec(name, shape, registered.example.params, "float64", layout)
            try:
                out = tensor(request, seed=1)
            except InitError as error:
                assert error.param == "shape" or error.param.startswith("scheme."), (shape, layout, error)
                continue
            assert low <= len(shape) <= high, (shape, layout)
            assert out.shape == shape and np.isfinite(out).all(), (shape, layout)


# Refusals of the registry's rules (a parameter's type, range and choices; a scheme's rank) and of
# the tensor around the scheme; the rules of one scheme are tested in its own module's tests.
REFUSALS: list[Refusal] = [
    ("xavier_uniform", (7,), {}, "torch", "shape", "fewer than 2 dimensions"),
    ("kaiming_normal", (), {}, "jax", "shape", "fewer than 2 dimensions"),
    ("eye", (2, 3, 4), {}, "torch", "shape", "2 dimensions"),
    ("eye", (4,), {}, "torch", "shape", "2 dimensions"),
    ("dirac", (4, 4), {}, "torch", "shape", "3 to 5 dimensions"),
    ("dirac", (2, 2, 2, 2, 2, 2), {}, "torch", "shape", "3 to 5 dimensions"),
    ("orthogonal", (9,), {}, "torch", "shape", "dimensions"),
    ("sparse", (4, 4, 4), {"sparsity": 0.1}, "torch", "shape", "2 dimensions"),
    ("sparse", (4, 4), {"sparsity": 1.0}, "torch", "scheme.sparsity", "< 1"),
    ("sparse", (4, 4), {"sparsity": -0.1}, "torch", "scheme.sparsity", ">= 0"),
    ("sparse", (4, 4), {}, "torch", "scheme.sparsity", "needs parameter 'sparsity'"),
    ("sparse", (4, 4), {"sparsity": 0.1, "std": 0.0}, "torch", "scheme.std", "> 0"),
    ("normal", (4, 4), {"std": -1.0}, "torch", "scheme.std", "> 0"),
    ("normal", (4, 4), {"mean": float("nan")}, "torch", "scheme.mean", "finite"),
    ("uniform", (4, 4), {"b": float("inf")}, "torch", "scheme.b", "finite"),
    ("constant", (4, 4), {"value": True}, "torch", "scheme.value", "finite number"),
    ("constant", (4, 4), {"value": "1"}, "torch", "scheme.value", "finite number"),
    ("kaiming_uniform", (4, 4), {"nonlinearity": "gelu"}, "torch", "scheme.nonlinearity", "one of"),
    ("kaiming_uniform", (4, 4), {"mode": "fan_max"}, "torch", "scheme.mode", "fan_in, fan_out"),
    ("variance_scaling", (4, 4), {"scale": 0.0}, "torch", "scheme.scale", "> 0"),
    ("variance_scaling", (4, 4), {"distribution": "cauchy"}, "torch", "scheme.distribution", "one of"),
    ("xavier_normal", (4, 4), {"gain": 1.0, "gian": 2.0}, "torch", "scheme.gian", "no parameter 'gian'"),
    ("normal", (4, 0), {}, "torch", "shape.1", "positive integer"),
    ("normal", (4, -2), {}, "torch", "shape.1", "positive integer"),
    ("normal", (True, 2), {}, "torch", "shape.0", "positive integer"),
    ("normal", (4, 4), {}, "caffe", "layout", "not supported"),
    ("no_such_scheme", (4, 4), {}, "torch", "scheme.name", "unknown scheme"),
]


@pytest.mark.parametrize(("scheme", "shape", "params", "layout", "field", "fragment"), REFUSALS)
def test_bad_requests_name_the_field_and_what_is_allowed(scheme, shape, params, layout, field, fragment):
    assert_refused(scheme, shape, params, layout, field, fragment)


def test_mode_is_case_insensitive_like_pytorch_and_keras_synonyms_are_accepted():
    assert spec("kaiming_normal", (4, 4), {"mode": "FAN_OUT"}).canonical()["scheme"]["mode"] == "fan_out"
    canonical = spec("variance_scaling", (4, 4), {"distribution": "untruncated_normal"}).canonical()
    assert canonical["scheme"]["distribution"] == "normal"
    assert spec("he_normal", (4, 4)).canonical()["scheme"]["name"] == "kaiming_normal"
