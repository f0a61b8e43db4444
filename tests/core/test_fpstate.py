"""service.core.fpstate: the core computes under its own numpy error state, never the caller's."""

from __future__ import annotations

import threading
import warnings

import numpy as np

from service.core import parallel
from service.core.artifact import Request, build
from service.core.fpstate import pinned
from service.core.generate import TensorSpec, generate


def test_generation_and_files_succeed_under_numpy_errors_raised():
    """np.seterr(all="raise"): a float16 normal (ldexp underflow in the rounding of tiny values),
    a far-tail truncated normal, a zero-width interval's diagnostics (0/0) still give their bytes,
    and the caller's error state is untouched afterwards."""
    specs = (
        TensorSpec("h", (4096,), "normal", {"std": 1e-6}, "float16"),
        TensorSpec("t", (256,), "truncated_normal", {"a": 15.0, "b": 15.5, "bounds": "sigma"}, "float64"),
        TensorSpec("z", (16,), "truncated_normal", {"a": 0.1, "b": 0.10000000000000002, "bounds": "sigma"}, "float64"),
    )
    expected = [generate(s, 3).tobytes() for s in specs]
    old = np.seterr(all="raise")
    try:
        assert [generate(s, 3).tobytes() for s in specs] == expected
        assert build(Request(3, specs)).to_bytes()
        assert np.geterr() == {"divide": "raise", "over": "raise", "under": "raise", "invalid": "raise"}
    finally:
        np.seterr(**old)


def test_pinned_ignores_every_condition_inside_and_restores_the_callers_state_after():
    @pinned
    def underflow() -> float:
        assert np.geterr() == {"divide": "ignore", "over": "ignore", "under": "ignore", "invalid": "ignore"}
        return float(np.ldexp(1.0, -1080) + np.float64(1.0) / np.float64(0.0))

    old = np.seterr(all="raise")
    try:
        assert underflow() == np.inf
        assert np.geterr()["under"] == "raise"
    finally:
        np.seterr(**old)


def test_the_pools_tasks_run_pinned_whatever_their_thread_started_with():
    seen: list[dict[str, str]] = []
    lock = threading.Lock()

    def task(part: tuple[int, int]) -> None:
        with lock:
            seen.append(np.geterr())

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning in a task would now raise
        parallel.each(task, parallel.ranges(0, 8, 1))
    assert len(seen) == 8 and all(set(state.values()) == {"ignore"} for state in seen)
