"""service.spec.errors: a pydantic error as the service reports it: the dotted field path, its JSON
pointer, a message and what the field allows; union tags, which are not fields, left out."""

import pytest
from pydantic import ValidationError

from service.spec.errors import FieldError, field_error, validation_errors
from service.spec.request import InitRequest


def reported(body) -> list[FieldError]:
    with pytest.raises(ValidationError) as refused:
        InitRequest.model_validate(body)
    return validation_errors(refused.value.errors(), body)


def where(body) -> list[tuple[str, str]]:
    return [(e.field, e.pointer) for e in reported(body)]


CONV = {"type": "conv2d", "name": "c", "in_channels": 1, "out_channels": 1}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"seed": -1, "shape": [4], "scheme": "zeros"}, "seed"),
        ({"shape": [4, True], "scheme": "zeros"}, "shape.1"),
        ({"tensors": [{"name": "w", "scheme": "zeros"}]}, "tensors.0.shape"),
        # a scheme's name is the union's tag: tensors.0.scheme.normal.std is no field of the body
        ({"tensors": [{"name": "w", "shape": [4], "scheme": {"name": "normal", "std": 0}}]}, "tensors.0.scheme.std"),
        ({"shape": [4], "scheme": {"name": "normal", "sdt": 1}}, "scheme.sdt"),
        # a layer's type and an architecture's preset are tags too
        ({"layers": [{"type": "linear", "name": "fc", "in_features": 0, "out_features": 3}]}, "layers.0.in_features"),
        ({"model": {"preset": "gpt2", "n_layer": 0}}, "model.n_layer"),
        # int | list[int]: the member names ("int", "list[int]") are tags under a scalar or a list
        ({"layers": [{**CONV, "kernel_size": 0}]}, "layers.0.kernel_size"),
        ({"layers": [{**CONV, "kernel_size": [3, 0]}]}, "layers.0.kernel_size.1"),
    ],
)
def test_the_path_names_the_field_of_the_body_and_the_pointer_is_the_same_path(body, field):
    found = where(body)
    assert (field, "/" + field.replace(".", "/")) in found, found
    assert all(e[0].split(".")[0] in body for e in found)  # never a tag or "body" in front


def test_a_field_named_like_a_tag_that_the_body_has_is_kept():
    # "normal" is a scheme's name, but here it is the name of a tensor the body really has.
    errors = [{"type": "greater_than", "loc": ("body", "tensors", 0, "shape", 0), "msg": "m", "ctx": {"gt": 0}}]
    body = {"tensors": [{"name": "normal", "shape": [0], "scheme": "zeros"}]}
    assert validation_errors(errors, body)[0].field == "tensors.0.shape.0"


def test_body_and_query_in_front_of_the_location_are_dropped_but_not_further_in():
    errors = [{"type": "missing", "loc": ("query", "seed"), "msg": "Field required"},
              {"type": "missing", "loc": ("body", "body"), "msg": "Field required"}]  # fmt: skip
    fields = [e.field for e in validation_errors(errors, {"body": {}})]
    assert fields == ["seed", "body"]


def test_an_error_of_the_whole_body_is_the_field_body_with_the_empty_pointer():
    (error,) = reported({"seed": 0})
    assert (error.field, error.pointer) == ("body", "")
    assert error.message.startswith("nothing to initialize") and not error.message.startswith("Value error")
    assert field_error("", "m") == field_error("body", "m") == FieldError(field="body", pointer="", message="m")


def test_an_unknown_tag_says_which_name_and_lists_the_known_ones():
    (error,) = reported({"shape": [4], "scheme": "xavier"})
    assert error.field == "scheme" and error.message == "unknown name 'xavier'"
    assert error.allowed.startswith("one of ") and "'xavier_uniform'" in error.allowed
    (model,) = reported({"model": {"preset": "resnet"}})
    assert model.field == "model" and "'gpt2'" in model.allowed


def test_an_unknown_field_is_called_so():
    (error,) = reported({"shape": [4], "scheme": "zeros", "sead": 1})
    assert (error.field, error.message) == ("sead", "unknown field")


@pytest.mark.parametrize(
    ("ctx", "allowed"),
    [
        ({"gt": 0}, "> 0"),
        ({"ge": 1}, ">= 1"),
        ({"lt": 1.5}, "< 1.5"),
        ({"le": 100}, "<= 100"),
        ({"expected": "'a' or 'b'"}, "one of 'a' or 'b'"),
        ({"pattern": "^x$"}, "matching ^x$"),
        ({"max_length": 8}, "at most 8 items"),
        ({}, None),
        (None, None),
    ],
)
def test_what_a_field_allows_comes_from_the_constraint_it_broke(ctx, allowed):
    error = {"type": "t", "loc": ("seed",), "msg": "Value error, bad", "ctx": ctx}
    (found,) = validation_errors([error], {"seed": 1})
    assert found.allowed == allowed and found.message == "bad"


def test_every_error_is_reported_once():
    body = {"seed": -1, "shape": [0, 4], "scheme": "zeros", "dtype": "int8"}
    assert sorted(e.field for e in reported(body)) == ["dtype", "seed", "shape.0"]
