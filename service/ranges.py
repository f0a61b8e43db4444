"""HTTP Range requests (RFC 9110 section 14) over a representation of known size.

Only the ``bytes`` unit exists. A syntactically invalid Range header is ignored (the full
representation is sent, as the RFC allows); a valid one with no satisfiable range is a 416.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

__all__ = ["MAX_RANGES", "TooManyRanges", "Unsatisfiable", "content_range", "multipart", "multipart_length", "parse"]

MAX_RANGES = 32
_SPEC = re.compile(r"^[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*$")  # ASCII digits only (RFC 9110 DIGIT)
_BEYOND = 10**20  # stands in for longer digit strings: more than any representation's size


def _int(digits: str) -> int:
    """A position; int() refuses strings of more than 4300 digits, and past 20 only "huge" matters."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 20 else _BEYOND


def _order(digits: str) -> tuple[int, str]:
    """Sorts digit strings of any length as the numbers they spell."""
    digits = digits.lstrip("0") or "0"
    return len(digits), digits


class Unsatisfiable(Exception):
    """No requested range overlaps the representation."""


class TooManyRanges(Exception):
    """More ranges than MAX_RANGES: refused rather than assembled."""


def parse(header: str | None, size: int) -> list[tuple[int, int]] | None:
    """[(first, last_exclusive), ...] for ``Range: bytes=...``, or None to ignore the header."""
    if not header:
        return None
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or not specs.strip():
        return None
    ranges = []
    for spec in specs.split(","):
        match = _SPEC.match(spec)
        if not match or match.group(1) == match.group(2) == "":
            return None
        first, last = match.group(1), match.group(2)
        if first == "":  # suffix: the last N bytes
            length = _int(last)
            if length == 0:
                continue
            ranges.append((max(size - length, 0), size))
            continue
        start = _int(first)
        if last != "" and _order(last) < _order(first):
            return None
        end = size - 1 if last == "" else min(_int(last), size - 1)
        if start < size:
            ranges.append((start, end + 1))
    if len(ranges) > MAX_RANGES:
        raise TooManyRanges
    if not ranges:
        raise Unsatisfiable
    return ranges


def content_range(first: int, stop: int, size: int) -> str:
    return f"bytes {first}-{stop - 1}/{size}"


def multipart(
    parts: Iterable[tuple[int, int, Iterable[memoryview | bytes]]], size: int, boundary: str, media: str
) -> Iterator[memoryview | bytes]:
    """multipart/byteranges body: each part's headers, then its bytes."""
    for first, stop, body in parts:
        yield (
            f"\r\n--{boundary}\r\nContent-Type: {media}\r\nContent-Range: {content_range(first, stop, size)}\r\n\r\n"
        ).encode()
        yield from body
    yield f"\r\n--{boundary}--\r\n".encode()


def multipart_length(ranges: list[tuple[int, int]], size: int, boundary: str, media: str) -> int:
    """The exact length of ``multipart``'s body, for Content-Length."""
    total = len(f"\r\n--{boundary}--\r\n")
    for first, stop in ranges:
        head = f"\r\n--{boundary}\r\nContent-Type: {media}\r\nContent-Range: {content_range(first, stop, size)}\r\n\r\n"
        total += len(head) + stop - first
    return total
