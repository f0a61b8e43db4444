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


def test_remembered_keeps_small_bodies_within_its_budget_and_digests_of_all():
    from service.representation import Remembered

    memory = Remembered(total_bytes=10, file_bytes=6, digests=3)
    memory.remember('"a"', b"A" * 32, b"12345")
    memory.remember('"b"', b"B" * 32, b"123456")  # 11 bytes held > 10: "a" is evicted
    memory.remember('"c"', b"C" * 32, b"1234567")  # larger than file_bytes: digest only
    assert memory.body('"a"') is None and memory.body('"b"') == b"123456" and memory.body('"c"') is None
    assert memory.digest('"a"') == b"A" * 32 and memory.digest('"c"') == b"C" * 32
    memory.remember('"d"', b"D" * 32)
    assert memory.digest('"b"') is None  # the least recently used digest leaves beyond capacity
    assert memory.digest('"a"') == b"A" * 32


def test_repeated_requests_are_served_from_memory(client, monkeypatch):
    from service import engine

    body = {"seed": 123456, "shape": [32, 32], "scheme": "orthogonal"}
    first = client.post("/init", json=body)
    monkeypatch.setattr(engine, "build", lambda *a, **k: (_ for _ in ()).throw(AssertionError("rebuilt")))
    again = client.post("/init", json=body)
    assert again.content == first.content and again.headers["repr-digest"] == first.headers["repr-digest"]
