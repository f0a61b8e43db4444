"""Range header parsing and multipart/byteranges assembly."""

import pytest

from service import ranges


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", [(0, 1)]),
        ("bytes=10-19", [(10, 20)]),
        ("bytes=90-", [(90, 100)]),
        ("bytes=-5", [(95, 100)]),
        ("bytes=-500", [(0, 100)]),
        ("bytes=95-500", [(95, 100)]),
        ("bytes=0-1, 5-6,-1", [(0, 2), (5, 7), (99, 100)]),
        ("BYTES = 3-4", [(3, 5)]),
        ("bytes=0-1,200-300", [(0, 2)]),
    ],
)
def test_satisfiable_ranges(header, expected):
    assert ranges.parse(header, 100) == expected


@pytest.mark.parametrize(
    "header", [None, "", "items=0-1", "bytes=", "bytes=a-b", "bytes=5-1", "bytes=-", "bytes=1-2-3"]
)
def test_invalid_headers_are_ignored(header):
    assert ranges.parse(header, 100) is None


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=200-300", "bytes=-0"])
def test_nothing_satisfiable_raises(header):
    with pytest.raises(ranges.Unsatisfiable):
        ranges.parse(header, 100)


def test_too_many_ranges_are_refused():
    with pytest.raises(ranges.TooManyRanges):
        ranges.parse("bytes=" + ",".join(f"{i}-{i}" for i in range(ranges.MAX_RANGES + 1)), 1000)


def test_multipart_length_is_exact():
    wanted = [(0, 3), (10, 12)]
    data = bytes(range(20))
    body = b"".join(
        bytes(part)
        for part in ranges.multipart(((a, b, [data[a:b]]) for a, b in wanted), 20, "xyz", "application/octet-stream")
    )
    assert len(body) == ranges.multipart_length(wanted, 20, "xyz", "application/octet-stream")
    assert b"Content-Range: bytes 10-11/20\r\n\r\n\n\x0b" in body and body.endswith(b"--xyz--\r\n")
