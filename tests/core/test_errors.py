"""The core's one exception: a ValueError that names the parameter and what is allowed."""

import pytest

from service.core.errors import InitError


def test_an_init_error_is_a_value_error_naming_its_parameter_and_what_it_allows():
    error = InitError("b must exceed a", param="scheme.b", allowed="a number greater than a=1.0")
    assert isinstance(error, ValueError)
    assert (str(error), error.param, error.allowed) == ("b must exceed a", "scheme.b", "a number greater than a=1.0")
    with pytest.raises(ValueError, match="b must exceed a"):
        raise error


def test_at_prefixes_the_parameter_path_and_keeps_the_rest():
    inner = InitError("needs 2 dimensions", param="shape", allowed="2 dimensions")
    outer = inner.at("tensors.3")
    assert (str(outer), outer.param, outer.allowed) == ("needs 2 dimensions", "tensors.3.shape", "2 dimensions")
    assert inner.param == "shape"  # a new error: the original is untouched
    assert InitError("no tensors").at("model").param == "model"  # no parameter: the prefix is the path
