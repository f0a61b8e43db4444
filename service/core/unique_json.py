"""JSON whose objects name each key once, as the request bodies and safetensors headers must.

RFC 8259 leaves an object with a repeated key to the reader: Python keeps the last value, other
libraries the first or refuse. A reproducibility service must not guess which one the writer
meant, so such text is refused, naming where the repeated key sits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import json_scan
from .json_scan import TooMany

__all__ = ["SCANNED", "DuplicateKey", "loads"]

SCANNED = 1 << 16  # bytes: a longer text is scanned first (json_scan); json.loads takes ~1 ms per 64 KiB


class DuplicateKey(ValueError):
    """An object of the text names ``key`` twice; ``path`` leads to it (keys and list indices)."""

    def __init__(self, path: tuple[str | int, ...]):
        self.path = path
        self.key = str(path[-1])
        super().__init__(f"the key {self.key!r} is given twice in one object (at {self.dotted})")

    @property
    def dotted(self) -> str:
        """The path as the service names fields: ``tensors.0.name``."""
        return ".".join(str(part) for part in self.path)


class _Repeated(Exception):
    pass


_Keys = Callable[[str], str] | None


def _unique(max_objects: int | None, keys: _Keys) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    count = 0

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal count
        count += 1
        if max_objects is not None and count > max_objects:
            raise TooMany("objects", max_objects)
        if keys is not None:
            pairs = [(keys(key), value) for key, value in pairs]
        result = dict(pairs)
        if len(result) != len(pairs):
            raise _Repeated
        return result

    return hook


class _Object(dict[str, Any]):
    repeated: str | None = None


def _marked(keys: _Keys) -> Callable[[list[tuple[str, Any]]], _Object]:
    def hook(pairs: list[tuple[str, Any]]) -> _Object:
        if keys is not None:
            pairs = [(keys(key), value) for key, value in pairs]
        result = _Object(pairs)
        if len(result) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    result.repeated = key
                    break
                seen.add(key)
        return result

    return hook


def _first_repeated(node: Any, path: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    if isinstance(node, _Object):
        if node.repeated is not None:
            return (*path, node.repeated)
        children: Any = node.items()
    elif isinstance(node, list):
        children = enumerate(node)
    else:
        return None
    for key, child in children:
        found = _first_repeated(child, (*path, key))
        if found is not None:
            return found
    return None


def _integer(literal: str) -> int:
    return int(literal)  # a Python call per integer: where other threads get the interpreter


def loads(
    text: str | bytes | bytearray,
    max_objects: int | None = None,
    max_values: int | None = None,
    max_depth: int | None = None,
) -> Any:
    """``json.loads``, but an object that names a key twice raises DuplicateKey, and more than
    ``max_objects`` objects or ``max_values`` values (members and items) raise TooMany before
    they are built; nesting deeper than ``max_depth`` raises RecursionError as json's own limit
    does, but at a depth that does not depend on the caller's stack or sys.getrecursionlimit().
    UTF-8 bytes of more than SCANNED bytes are scanned and their long strings lifted first
    (service.core.json_scan), so no single step holds the interpreter for long. Anything else
    raises what ``json.loads`` raises (ValueError or RecursionError)."""
    lifted = None
    if isinstance(text, bytes | bytearray) and (
        len(text) > SCANNED
        or (max_values is not None and len(text) > max_values)
        or (max_depth is not None and text.count(b"[") + text.count(b"{") > max_depth)  # else too few to nest
    ):
        lifted = json_scan.lift(text, max_values, max_objects, max_depth)
    source = text if lifted is None else lifted.text
    keys = lifted.key if lifted is not None and lifted.keys.any() else None  # only where a key was lifted
    extra: dict[str, Any] = {} if lifted is None else {"parse_float": lifted.parse_float, "parse_int": _integer}
    try:
        try:
            return json.loads(source, object_pairs_hook=_unique(max_objects, keys), **extra)
        except _Repeated:
            # Rare: parse again, marking the objects, to say where (the first in document order).
            path = _first_repeated(json.loads(source, object_pairs_hook=_marked(keys), **extra), ())
            assert path is not None
            raise DuplicateKey(path) from None
    except json.JSONDecodeError as error:
        if lifted is None:
            raise
        raise lifted.error(error) from None
