"""One thread pool for the core: numpy releases the GIL inside ufuncs, so threads use every core;
and the allocator setting that keeps the pool's temporaries warm (called by the server at start-up).

Work is split into ranges whose boundaries are multiples of a fixed chunk, so splitting never
changes a value: it only decides which thread computes which range.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from . import cancel
from .fpstate import pinned

__all__ = ["THREADS", "each", "keep_freed_memory", "one_at_a_time", "ranges"]

_T = TypeVar("_T")

THREADS = os.cpu_count() or 1
_POOL = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="initw")


_HEAVY = threading.Lock()


@contextmanager
def one_at_a_time() -> Iterator[None]:
    """Work that holds the interpreter most of its time (decoding a 60 MB upload) runs one job at
    a time: the event loop then competes for the interpreter and the cores with one such thread,
    not with one per request."""
    with _HEAVY:
        yield


def ranges(start: int, stop: int, chunk: int) -> list[tuple[int, int]]:
    """[start, stop) cut at the multiples of ``chunk``."""
    edges = sorted({start, stop, *range((start // chunk + 1) * chunk, stop, chunk)})
    return list(zip(edges, edges[1:], strict=False))


def each(fn: Callable[[tuple[int, int]], _T], parts: list[tuple[int, int]]) -> list[_T]:
    """fn over every part, in parallel when there is more than one. Each part first checks the
    caller's cancellation token (service.core.cancel): cancelled work stops within one part."""
    token = cancel.current()
    if token is None:
        checked = pinned(fn)  # a pool thread starts with numpy's default error state: pin it
    else:

        @pinned
        def checked(part: tuple[int, int]) -> _T:
            token.check()
            return fn(part)

    if len(parts) <= 1:
        return [checked(p) for p in parts]
    return list(_POOL.map(checked, parts))


def keep_freed_memory() -> None:
    """Stop glibc from returning each freed 512 KiB temporary to the kernel.

    Every chunk allocates a few dozen 512 KiB arrays. By default glibc serves them with mmap or
    trims the heap on free, so each one costs ~128 page faults (a 3-10x slowdown measured on the
    transforms, and the faults serialize threads on the address-space lock). Keeping freed memory
    in the heap makes the working set warm. No effect on values; skipped outside glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    libc.mallopt(m_mmap_threshold, 256 << 20)
    libc.mallopt(m_trim_threshold, 1 << 30)
    libc.mallopt(m_top_pad, 64 << 20)
