"""Content negotiation, ETags and conditional requests."""

import pytest

from service.core.artifact import Request
from service.core.generate import TensorSpec
from service.problems import ProblemError
from service.representation import BINARY, JSON, etag, matches, negotiate, repr_digest


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, BINARY),
        ("", BINARY),
        ("*/*", BINARY),
        ("application/*", BINARY),
        ("application/json", JSON),
        ("application/octet-stream", BINARY),
        ("application/json, application/octet-stream", BINARY),
        ("application/json;q=0.9, application/octet-stream;q=0.5", JSON),
        ("text/html, application/json;q=0.1", JSON),
        ("application/json, */*;q=0.1", JSON),
        ("APPLICATION/JSON", JSON),
    ],
)
def test_negotiation(accept, chosen):
    assert negotiate(accept) == chosen


@pytest.mark.parametrize("accept", ["text/html", "image/png, text/*", "application/json;q=0", "*/*;q=0"])
def test_nothing_acceptable_is_a_406(accept):
    with pytest.raises(ProblemError) as error:
        negotiate(accept)
    assert error.value.status == 406


def test_etag_depends_on_the_canonical_request_and_representation():
    a = Request(0, (TensorSpec("w", (4, 4), "glorot_uniform"),))
    same = Request(0, (TensorSpec("w", (4, 4), "xavier_uniform", {"gain": 1.0}),))
    other = Request(1, (TensorSpec("w", (4, 4), "xavier_uniform"),))
    assert etag(a, BINARY) == etag(same, BINARY) != etag(other, BINARY)
    assert etag(a, BINARY) != etag(a, JSON)


def test_if_none_match_lists_wildcards_and_weak_tags():
    tag = '"abc"'
    assert matches('"abc"', tag) and matches('"x", "abc"', tag) and matches('W/"abc"', tag) and matches("*", tag)
    assert not matches('"abcd"', tag) and not matches(None, tag) and not matches("", tag)


def test_repr_digest_is_rfc9530():
    assert repr_digest(bytes(32)) == "sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"
