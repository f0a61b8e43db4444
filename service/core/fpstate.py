"""The floating-point state every computation of the core runs in, whatever its caller's.

numpy's error state belongs to the caller (``np.seterr(all="raise")`` while debugging numerics
turns an underflow in ``ldexp`` into FloatingPointError; a warnings filter set to "error" turns a
0/0 in the diagnostics into an exception). Results never depend on it (IEEE-754 defines every
value, overflow and underflow included), only whether an operation raises or warns does. So the
core's entry points, and every task of its thread pool, run under ``pinned``: every floating-point
condition ignored, its result the IEEE one, reported by the diagnostics where it matters (non-finite
values, zero-width intervals). numpy 2 keeps the error state in a context variable, and the
decorator form is thread-safe: the caller's own state is back as soon as the call returns.

The decimal context is pinned where decimals are used (service.core.normal.pinned_context).
"""

from __future__ import annotations

import numpy as np

__all__ = ["pinned"]

pinned = np.errstate(all="ignore")  # use as a decorator: @pinned (one object serves every thread)
