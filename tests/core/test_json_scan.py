"""service/core/json_scan.py: a scanned and lifted text reads as json.loads reads it, refuses what
it refuses (same exception class, same position when the fault is json's first), and counts values
and objects exactly. The window, lift and piece sizes are shrunk so that a few hundred bytes cross
every boundary the 64 MiB bodies cross."""

from __future__ import annotations

import json
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.core import json_scan, unique_json


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(json_scan, "WINDOW", 7)
    monkeypatch.setattr(json_scan, "LIFTED", 3)
    monkeypatch.setattr(json_scan, "PIECE", 5)
    monkeypatch.setattr(json_scan, "DENSE", 10**6)  # refusals of dense escapes: tested alone
    monkeypatch.setattr(unique_json, "SCANNED", 0)


characters = st.one_of(
    st.sampled_from(list('ab "\\/\n\t\x01\x7f') + ["é", "€", "\U0001f600", "\ud83d", "\ude00"]),
    st.characters(codec="utf-8"),
)
strings = st.text(characters, max_size=40)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(allow_nan=False), strings)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(strings, inner, max_size=5)),
    max_leaves=25,
)


def _dumps(value: object, ascii_only: bool, indent: int | None) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode("utf-8", "surrogatepass")


def _count(value: object) -> tuple[int, int]:
    """Values and objects as the scan counts them: one, plus max(len, 1) per container."""

    def containers(node: object) -> tuple[int, int]:
        if not isinstance(node, dict | list):
            return 0, 0
        items = list(node.values()) if isinstance(node, dict) else node
        inner = [containers(item) for item in items]
        return max(len(items), 1) + sum(c[0] for c in inner), isinstance(node, dict) + sum(c[1] for c in inner)

    found, objects = containers(value)
    return 1 + found, objects


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values, st.booleans(), st.sampled_from([None, 0, 2]))
def test_a_lifted_text_reads_as_json_reads_it(small, value, ascii_only, indent):
    data = _dumps(value, ascii_only, indent)
    assert unique_json.loads(data) == json.loads(data)


def _same_verdict(data: bytes) -> None:
    try:
        expected: object = json.loads(data)
    except (ValueError, RecursionError) as error:
        expected = error
    try:
        got: object = unique_json.loads(data)
    except unique_json.DuplicateKey as error:
        assert not isinstance(expected, Exception), (data, error)
        return
    except (ValueError, RecursionError) as error:
        got = error
    if isinstance(expected, Exception):
        assert type(got) is type(expected), (data, got, expected)
        if isinstance(expected, json.JSONDecodeError):
            assert isinstance(got, json.JSONDecodeError)
            assert got.pos >= expected.pos, (data, got, expected)  # json's first fault, or a later one
            if got.pos == expected.pos:
                assert (got.msg, got.lineno, got.colno) == (expected.msg, expected.lineno, expected.colno)
    else:
        assert got == expected, data


@pytest.mark.slow  # 250 damaged texts: ~3.5 s
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values, st.booleans(), st.data())
def test_a_damaged_text_gets_the_verdict_json_gives(small, value, ascii_only, data):
    text = bytearray(_dumps(value, ascii_only, None))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        damage = data.draw(st.sampled_from([b'"', b"\\", b"\x01", b"\xff", b"\xc3", b"}", b",", b":", b"u", b""]))
        if damage and data.draw(st.booleans()):
            text[at:at] = damage
        else:
            del text[at : at + 1]
    _same_verdict(bytes(text))


@pytest.mark.parametrize(
    "text",
    [
        b'"abcdefgh',  # unterminated
        b'{"k": "abcdefgh\\q"}',  # a bad escape in a lifted string
        b'{"k": "abc\x01defgh"}',  # a control character in a lifted string
        b'{"k" "abcdefgh"}',  # the fault before the lifted string
        b'["abcdefgh", "abcdefgh"] x',
        b'\xef\xbb\xbf{"k": "abcdefgh"}',  # a UTF-8 BOM, as json.loads(bytes) reads it
        b'{"k": "abc\xffdefg"}',  # not UTF-8
        b'{"k": "\\ud83d\\ude00\\ud83d\\ude00\\ud83d\\ude00"}',  # surrogate pairs across piece sizes
        b'{"abcdefghij": 1, "abcdefghij": 2}',  # a lifted key, given twice
        b'{"\\\\\\\\\\"abc": "\\\\\\\\x"}',  # runs of backslashes
        pytest.param(b"[" * 5000 + b"]" * 5000, id="nested-5000-deep"),
    ],
)
def test_faults_json_reports_are_reported_where_json_reports_them(small, text):
    _same_verdict(text)


def test_a_key_given_twice_is_found_when_lifted(small):
    with pytest.raises(unique_json.DuplicateKey) as refused:
        unique_json.loads(b'{"x": [{"abcdefghij": 1, "abcdefghij": 2}]}')
    assert refused.value.path == ("x", 0, "abcdefghij")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values)
def test_values_and_objects_are_counted_exactly_and_refused_past_the_limit(small, value):
    data = _dumps(value, True, None)
    count, objects = _count(value)
    assert unique_json.loads(data, max_values=count, max_objects=objects) == json.loads(data)
    if count > 1:
        with pytest.raises(json_scan.TooMany) as refused:
            unique_json.loads(data, max_values=count - 1)
        assert refused.value.what == "values"
    if objects:
        with pytest.raises(json_scan.TooMany) as refused:
            unique_json.loads(data, max_objects=objects - 1)
        assert refused.value.what == "objects"


def _depth(value: object) -> int:
    if isinstance(value, dict | list):
        items = value.values() if isinstance(value, dict) else value
        return 1 + max((_depth(item) for item in items), default=0)
    return 0


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values)
def test_nesting_is_measured_exactly_and_refused_past_the_limit_as_json_refuses_it(small, value):
    data = _dumps(value, True, None)
    depth = _depth(value)
    assert unique_json.loads(data, max_depth=depth) == json.loads(data)
    if depth:
        with pytest.raises(RecursionError):
            unique_json.loads(data, max_depth=depth - 1)


def test_the_depth_limit_does_not_move_with_the_recursion_limit():
    text = b"[" * 300 + b"]" * 300
    original = sys.getrecursionlimit()
    try:
        for limit in (1000, 20_000):  # json alone reads 300 levels at either; the limit refuses them at both
            sys.setrecursionlimit(limit)
            assert json.loads(text) is not None
            with pytest.raises(RecursionError, match="more than 256 deep"):
                unique_json.loads(text, max_depth=256)
            assert unique_json.loads(b"[" * 256 + b"]" * 256, max_depth=256) is not None
    finally:
        sys.setrecursionlimit(original)


def test_a_string_of_escapes_alone_is_refused_and_one_with_plain_runs_is_read(small, monkeypatch):
    monkeypatch.setattr(json_scan, "DENSE", 24)
    with pytest.raises(json_scan.TooDense):
        unique_json.loads(b'"' + b"\\n" * 40 + b'"')
    spaced = b'"' + b"\\nab" * 40 + b'"'
    assert unique_json.loads(spaced) == json.loads(spaced)


def test_the_real_sizes_read_a_large_upload_as_json_does():
    text = json.dumps({"pretrained": "QUJD" * 700_000, "names": ["é" * 300, "\\/" * 200_000]}).encode()
    assert len(text) > unique_json.SCANNED
    lifted = json_scan.lift(text)
    assert len(lifted.text) < 200 and len(lifted.strings) == 3
    assert unique_json.loads(text) == json.loads(text)
