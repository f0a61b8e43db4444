"""Exact references for tests/core/test_normal.py, computed once with mpmath and committed as data
(normal_references.json): they never change, and computing them costs seconds a run.

    python -m tests.core.normal_references > tests/core/normal_references.json

- ``moments``: the truncated standard normal's mass, mean, std and kurtosis on [a, b], as integrals
  of the density by 40-digit Gauss-Legendre quadrature over 64 panels: an evaluation independent
  of service.core.normal's closed forms.
- ``quantiles``: for each p, the exact x with Phi(x) = p, by root finding at 50 digits.

Numbers are written as decimal strings of 30 significant digits (the exact values' leading digits),
the quantiles' p as float.hex (the inputs, exactly). tests/core/test_normal.py checks, in the slow
lane, that this script still computes the committed file.
"""

from __future__ import annotations

import json
import statistics
import sys
from typing import Any

import mpmath
import numpy as np

INTERVALS = [(-2.0, 2.0), (4.0, 6.0), (-6.0, -4.0), (-1.0, 3.0), (0.5, 0.6), (-30.0, -29.0)]
DIGITS = 30


def _text(value: Any) -> str:
    return mpmath.nstr(value, DIGITS, strip_zeros=False)


def quantile_inputs() -> list[float]:
    """Central, lower-tail and upper-tail probabilities; drawn once, kept as data from now on."""
    rng = np.random.default_rng(2)
    p = np.concatenate([rng.random(300), 10.0 ** rng.uniform(-300, -1, 300), 1 - 10.0 ** rng.uniform(-15, -1, 100)])
    return [float(v) for v in p]


def moments(a: float, b: float) -> dict[str, str]:
    with mpmath.workdps(40):
        points = mpmath.linspace(a, b, 64)
        mass = mpmath.quad(mpmath.npdf, points)
        mean = mpmath.quad(lambda x: x * mpmath.npdf(x), points) / mass
        var = mpmath.quad(lambda x: (x - mean) ** 2 * mpmath.npdf(x), points) / mass
        fourth = mpmath.quad(lambda x: (x - mean) ** 4 * mpmath.npdf(x), points) / mass
        return {"mass": _text(mass), "mean": _text(mean), "std": _text(mpmath.sqrt(var)),
                "kurtosis": _text(fourth / var**2)}  # fmt: skip


def quantile(p: float) -> str:
    with mpmath.workdps(50):
        start = mpmath.mpf(statistics.NormalDist().inv_cdf(p))  # CPython's: near, and not the code under test
        return _text(mpmath.findroot(lambda t: mpmath.ncdf(t) - mpmath.mpf(p), start))


def references() -> dict[str, Any]:
    return {
        "moments": [{"a": a, "b": b, **moments(a, b)} for a, b in INTERVALS],
        "quantiles": [{"p": p.hex(), "x": quantile(p)} for p in quantile_inputs()],
    }


if __name__ == "__main__":
    json.dump(references(), sys.stdout, indent=1)
    sys.stdout.write("\n")
