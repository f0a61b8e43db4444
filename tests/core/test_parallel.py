"""The core's thread pool: work split at fixed chunk boundaries, so splitting never changes a value."""

import threading

import numpy as np
import pytest

from service.core import parallel


@pytest.mark.parametrize(("start", "stop", "chunk"), [(0, 10, 4), (3, 17, 5), (5, 5, 4), (8, 16, 8), (7, 9, 100)])
def test_ranges_cover_the_interval_cut_at_the_multiples_of_the_chunk(start, stop, chunk):
    parts = parallel.ranges(start, stop, chunk)
    assert [p for part in parts for p in range(*part)] == list(range(start, stop))  # contiguous, in order
    for first, last in parts:
        assert first < last
        assert first == start or first % chunk == 0  # every cut is at a multiple of the chunk
        assert (last - 1) // chunk == first // chunk  # a part never spans two chunks


def test_the_cuts_do_not_depend_on_where_the_interval_starts():
    whole = parallel.ranges(0, 1000, 64)
    tail = parallel.ranges(100, 1000, 64)
    assert [part for part in whole if part[0] >= 128] == [part for part in tail if part[0] >= 128]


def test_each_returns_results_in_the_order_of_the_parts():
    parts = parallel.ranges(0, 10_000, 7)
    assert parallel.each(lambda part: part[1] - part[0], parts) == [b - a for a, b in parts]


def test_a_single_part_runs_in_the_calling_thread():
    caller = threading.get_ident()
    assert parallel.each(lambda part: threading.get_ident(), [(0, 1)]) == [caller]
    assert parallel.each(lambda part: part, []) == []


def test_values_computed_in_parallel_equal_the_sequential_ones():
    x = np.linspace(-3.0, 3.0, 100_003)

    def work(part):
        a, b = part
        return np.tanh(x[a:b]) * 2.0 + 1.0

    parts = parallel.ranges(0, x.size, 4096)
    assert np.array_equal(np.concatenate(parallel.each(work, parts)), np.tanh(x) * 2.0 + 1.0)


def test_keeping_freed_memory_can_be_asked_for_twice():
    parallel.keep_freed_memory()
    parallel.keep_freed_memory()  # idempotent: the server and the CLI may both ask
    assert parallel.THREADS >= 1
