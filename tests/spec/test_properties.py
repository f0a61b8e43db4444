"""Properties of the request models (service/spec) over generated bodies (tests/spec/strategies.py).

What the models promise (service/spec/fields.py and the models' docstrings): exactly what the
published JSON Schema says is accepted (integers and integral floats where integers go, finite
numbers, never a boolean or a numeric string), every refusal names the field, and a validated
body becomes a core Request whose canonical form is what the bytes depend on. So:

- every body drawn to the schema validates, the same from Python objects and from JSON text, and
  either plans or is refused with an InitError naming a field of the body (a truncated normal
  cut anywhere, too: a bound at the mean, far in a tail, or narrower than float64 resolves);
- the canonical form is a fixed point: each canonical tensor, sent back as a request, has the
  same canonical form (names, aliases, synonyms, defaults, integral floats all settle);
- a boolean, a numeric string, NaN or an infinity in place of any number of a valid body is
  refused, and the refusal names that number's field, in all four request models;
- shapes of any size never overflow: the element count is exact, and the service answers a huge
  request with a 413 or a 422 problem, never an error of its own;
- any unicode name is accepted exactly when the documented pattern allows it, else refused at its
  field; a seed is accepted exactly when it is an integer (or an integral float) in 0 .. 2^64-1.
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from service.core.dtypes import FLOAT_DTYPES
from service.core.errors import InitError
from service.spec.errors import validation_errors
from service.spec.fields import MAX_SEED, NAME_PATTERN
from service.spec.network import LsuvRequest, NetworkRequest
from service.spec.pretrain import PretrainRequest
from service.spec.request import InitRequest, to_request

from . import strategies as gen

# derandomize: the same examples on every run and machine, so CI is reproducible
PROPERTY = settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
# JSON Schema patterns are ECMA-262: "$" is the end of the text. Python's "$" also matches before a
# final newline, so the reference is a fullmatch of the pattern's body.
NAME = re.compile(NAME_PATTERN.removeprefix("^").removesuffix("$"))
Path = tuple[str | int, ...]


def numbers(value: Any, path: Path = ()) -> list[Path]:
    """Paths of the JSON numbers in a body (ints and floats, never booleans)."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in numbers(item, (*path, key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in numbers(item, (*path, index))]
    return [path] if isinstance(value, int | float) and not isinstance(value, bool) else []


def replaced(body: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


def dotted(path: Path) -> str:
    return ".".join(map(str, path))


def refused_at(model: type[BaseModel], body: dict[str, Any]) -> list[str]:
    """The field paths of the problem the service would answer for ``body``."""
    with pytest.raises(ValidationError) as info:
        model.model_validate(body)
    return [error.field for error in validation_errors(info.value.errors(), body)]


def assert_names_a_field(error: InitError, body: dict[str, Any]) -> None:
    """An InitError's field path starts at the body: a top-level field it has (or the body itself),
    and a tensor or layer it has."""
    path = (error.param or "body").split(".")
    assert path[0] == "body" or path[0] in body, (error.param, str(error))
    if path[0] in ("tensors", "layers"):
        assert len(path) > 1 and path[1].isdigit() and int(path[1]) < len(body[path[0]]), (error.param, str(error))


# --- generated bodies: validation, planning, canonical form --------------------------------------


@pytest.mark.slow  # ~2 s of drawn bodies
@PROPERTY
@given(gen.init_bodies(with_models=True))
def test_bodies_drawn_to_the_schema_validate_and_their_canonical_form_is_a_fixed_point(body):
    parsed = InitRequest.model_validate(body)
    assert InitRequest.model_validate_json(json.dumps(body)) == parsed  # the HTTP path parses the same
    try:
        request = to_request(parsed)
    except InitError as error:  # a cross-field rule (a < b, a scheme's rank, unique names...)
        assert_names_a_field(error, body)
        return
    assert to_request(InitRequest.model_validate(body)).canonical_json == request.canonical_json
    canonical = request.canonical()
    assert canonical["seed"] == body.get("seed", 0) and len(canonical["tensors"]) == len(request.tensors)
    for tensor in canonical["tensors"]:
        if tensor["dtype"] not in FLOAT_DTYPES:
            continue  # batchnorm's num_batches_tracked (int64) is not in the request language
        again = {"seed": canonical["seed"], "layout": tensor["layout"],
                 "tensors": [{key: value for key, value in tensor.items() if key != "layout"}]}  # fmt: skip
        assert to_request(InitRequest.model_validate(again)).canonical()["tensors"] == [tensor]


@PROPERTY
@given(
    a=st.floats(-45, 45),
    width=st.one_of(st.floats(1e-3, 10), st.floats(1e-300, 1e-3)),
    bounds=st.sampled_from(["sigma", "absolute"]),
    correct_variance=st.booleans(),
)
def test_a_truncated_normal_cut_anywhere_plans_or_is_refused_at_its_field(a, width, bounds, correct_variance):
    scheme = {"name": "truncated_normal", "a": a, "b": a + width, "bounds": bounds}
    if bounds == "sigma":
        scheme["correct_variance"] = correct_variance
    body = {"shape": [4], "scheme": scheme}
    try:
        [tensor] = to_request(InitRequest.model_validate(body)).tensors
    except InitError as error:  # bounds beyond float64's reach, or a < b lost to rounding
        assert error.param in ("scheme.a", "scheme.b"), (error.param, str(error))
        return
    # The moments are v1's (docs/ALGORITHM.md section 7: inexact for intervals far in the upper tail
    # or narrower than float64 resolves, and so they stay), but always a positive variance.
    theory = tensor.plan.theory
    assert math.isfinite(theory.mean) and 0 < theory.std < math.inf
    if scheme.get("correct_variance"):
        assert theory.std == pytest.approx(1.0, rel=1e-12)  # what correct_variance promises


# --- strict numbers, in every request model -------------------------------------------------------

MODELS = {
    "InitRequest": (InitRequest, gen.init_bodies(with_models=True)),
    "NetworkRequest": (NetworkRequest, gen.network_bodies()),
    "LsuvRequest": (LsuvRequest, gen.lsuv_bodies()),
    "PretrainRequest": (PretrainRequest, gen.pretrain_bodies()),
}


@pytest.mark.parametrize("which", sorted(MODELS))
@PROPERTY
@given(data=st.data())
def test_a_boolean_string_or_non_finite_number_in_place_of_a_number_is_refused_at_its_field(which, data):
    model, bodies = MODELS[which]
    body = data.draw(bodies, label="body")
    model.model_validate(body)
    paths = numbers(body)
    assume(paths)
    path = data.draw(st.sampled_from(paths), label="path")
    number = body
    for key in path:
        number = number[key]
    bad = data.draw(st.sampled_from([True, False, str(number), math.inf, -math.inf, math.nan]), label="bad")
    assert dotted(path) in refused_at(model, replaced(body, path, bad))


# --- sizes ------------------------------------------------------------------------------------------

HUGE = st.integers(1, 2**40)


@PROPERTY
@given(shape=st.lists(HUGE, max_size=8), scheme=gen.schemes(), layout=gen.LAYOUT)
def test_the_element_count_of_any_shape_is_exact_or_the_shape_is_refused_at_a_field(shape, scheme, layout):
    body = {"shape": shape, "scheme": scheme, "layout": layout}
    try:
        request = to_request(InitRequest.model_validate(body))
    except InitError as error:
        assert_names_a_field(error, body)
        return
    assert request.numel == math.prod(shape)  # Python integers: no int64 wrap-around, up to 2^320
    assert request.nbytes == request.numel * request.tensors[0].out_dtype.itemsize


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.lists(HUGE, min_size=1, max_size=8), scheme=gen.schemes(), path=st.sampled_from(["/init", "/diagnostics"])
)
def test_a_huge_request_is_a_413_or_422_problem_never_a_server_error(client, shape, scheme, path):
    settings_ = client.app.state.settings
    limit = settings_.max_elements if path == "/init" else settings_.max_diagnostics_elements
    assume(math.prod(shape) > limit)  # what fits is generated: tested elsewhere
    response = client.post(path, json={"shape": shape, "scheme": scheme})
    assert response.status_code in (413, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == response.status_code


# --- names and seeds --------------------------------------------------------------------------------


def _named(name: str, where: str) -> tuple[dict[str, Any], str, set[str]]:
    """A body naming something ``name``, the field that holds it, and the tensor names it makes."""
    if where == "shorthand":
        return {"shape": [2], "scheme": "zeros", "name": name}, "name", {name}
    if where == "tensors":
        return {"tensors": [{"name": name, "shape": [2], "scheme": "zeros"}]}, "tensors.0.name", {name}
    layer = {"type": "linear", "name": name, "in_features": 2, "out_features": 3}
    return {"layers": [layer]}, "layers.0.name", {f"{name}.weight", f"{name}.bias"}


@PROPERTY
@given(name=st.one_of(st.text(max_size=210), gen.NAMES), where=st.sampled_from(["shorthand", "tensors", "layers"]))
def test_any_unicode_name_is_accepted_exactly_when_the_pattern_allows_it(name, where):
    body, field, tensors = _named(name, where)
    if NAME.fullmatch(name) is None or name == "__metadata__":
        assert refused_at(InitRequest, body) == [field]
        return
    request = to_request(InitRequest.model_validate_json(json.dumps(body)))
    assert {tensor["name"] for tensor in request.canonical()["tensors"]} == tensors


SEEDS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(MAX_SEED - 2, MAX_SEED + 2),
    st.floats(),
    st.booleans(),
    st.text(max_size=4),
)


@PROPERTY
@given(seed=SEEDS)
def test_a_seed_is_accepted_exactly_when_it_is_an_integer_from_0_to_2_64_minus_1(seed):
    body = {"seed": seed, "shape": [2], "scheme": "zeros"}
    integral = not isinstance(seed, bool | str) and (
        isinstance(seed, int) or (math.isfinite(seed) and float(seed).is_integer())
    )
    if not (integral and 0 <= int(seed) <= MAX_SEED):
        assert refused_at(InitRequest, body) == ["seed"]
        return
    parsed = InitRequest.model_validate(body)
    assert type(parsed.seed) is int and parsed.seed == int(seed)
    assert to_request(parsed).canonical()["seed"] == int(seed)
