"""JSON whose objects name each key once, as the request bodies and safetensors headers must.

RFC 8259 leaves an object with a repeated key to the reader: Python keeps the last value, other
libraries the first or refuse. A reproducibility service must not guess which one the writer
meant, so such text is refused, naming where the repeated key sits.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["DuplicateKey", "TooManyObjects", "loads"]


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


class TooManyObjects(ValueError):
    """The text holds more than ``limit`` objects (found while parsing, before anything uses them)."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"more than {limit:,} JSON objects")


class _Repeated(Exception):
    pass


def _unique(max_objects: int | None) -> Any:
    count = 0

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal count
        count += 1
        if max_objects is not None and count > max_objects:
            raise TooManyObjects(max_objects)
        result = dict(pairs)
        if len(result) != len(pairs):
            raise _Repeated
        return result

    return hook


class _Object(dict[str, Any]):
    repeated: str | None = None


def _marked(pairs: list[tuple[str, Any]]) -> _Object:
    result = _Object(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                result.repeated = key
                break
            seen.add(key)
    return result


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


def loads(text: str | bytes, max_objects: int | None = None) -> Any:
    """``json.loads``, but an object that names a key twice raises DuplicateKey, and more than
    ``max_objects`` objects raise TooManyObjects as soon as the parser meets one too many.
    Anything else raises what ``json.loads`` raises (ValueError or RecursionError)."""
    try:
        return json.loads(text, object_pairs_hook=_unique(max_objects))
    except _Repeated:
        # Rare: parse again, marking the objects, to say where (the first in document order).
        path = _first_repeated(json.loads(text, object_pairs_hook=_marked), ())
        assert path is not None
        raise DuplicateKey(path) from None
