"""service/core/unique_json.py: JSON objects name each key once; the first repeat is located."""

import json

import pytest

from service.core import json_scan, unique_json


@pytest.mark.parametrize(
    "text",
    ['{"a": 1, "b": [1, {"c": null}]}', "[]", '"text"', "3", '{"": 0, " ": 1}', '{"a": {"a": {"a": 1}}}'],
)
def test_text_without_repeated_keys_reads_as_json_reads_it(text):
    assert unique_json.loads(text) == json.loads(text)
    assert unique_json.loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"seed": 0, "seed": 1}', ("seed",)),
        ('{"a": [1, {"b": 1, "c": {"d": 1, "d": 2}}]}', ("a", 1, "c", "d")),
        ('{"x": {"y": 1, "y": 1}, "z": {"w": 1, "w": 2}}', ("x", "y")),  # the first in the document, even if equal
        ('[{"k": 1}, {"k": 1, "k": 1}]', (1, "k")),
        ('{"\\u0061": 1, "a": 2}', ("a",)),  # the same key, spelled two ways
    ],
)
def test_a_repeated_key_is_refused_naming_where_it_is(text, path):
    with pytest.raises(unique_json.DuplicateKey) as refused:
        unique_json.loads(text)
    assert refused.value.path == path
    assert refused.value.dotted == ".".join(str(part) for part in path) and refused.value.key == str(path[-1])
    assert isinstance(refused.value, ValueError)  # callers that catch what json.loads raises catch it too


def test_too_many_objects_stop_the_parse_and_what_json_refuses_is_refused_as_json_does():
    with pytest.raises(json_scan.TooMany) as refused:
        unique_json.loads("[" + ",".join(["{}"] * 11) + "]", max_objects=10)
    assert refused.value.limit == 10
    assert unique_json.loads("[" + ",".join(["{}"] * 10) + "]", max_objects=10) == [{}] * 10
    for bad in ("{", "[1,]", "", "1" * 5000):  # the last: int() refuses more than 4300 digits
        with pytest.raises(ValueError):
            unique_json.loads(bad)
    with pytest.raises(RecursionError):
        unique_json.loads("[" * 100_000 + "]" * 100_000)
