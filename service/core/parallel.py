"""One thread pool for the core: numpy releases the GIL inside ufuncs, so threads use every core.

Work is split into ranges whose boundaries are multiples of a fixed chunk, so splitting never
changes a value: it only decides which thread computes which range.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

THREADS = os.cpu_count() or 1
_POOL = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="initw")


def ranges(start: int, stop: int, chunk: int) -> list[tuple[int, int]]:
    """[start, stop) cut at the multiples of ``chunk``."""
    edges = sorted({start, stop, *range((start // chunk + 1) * chunk, stop, chunk)})
    return list(zip(edges, edges[1:], strict=False))


def each(fn: Callable[[tuple[int, int]], T], parts: list[tuple[int, int]]) -> list[T]:
    """fn over every part, in parallel when there is more than one."""
    if len(parts) <= 1:
        return [fn(p) for p in parts]
    return list(_POOL.map(fn, parts))
