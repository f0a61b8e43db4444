"""What the scheme tests share: a TensorSpec shorthand, seeded draws, the KS p-value, a refusal check.

The statistical tests follow PyTorch's test_init.py: random shapes and parameters from a seeded
Python RNG, a one-sample KS test against the intended distribution, pass iff p > 1e-4. The
expected distributions are computed in the tests from the published formulas, not from the service.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from scipy import stats

from service.core.dtypes import FLOAT_DTYPES
from service.core.errors import InitError
from service.core.generate import TensorSpec, tensor
from service.core.registry import Example

DTYPES = FLOAT_DTYPES  # every dtype the schemes fill


def spec(
    scheme: str,
    shape: tuple[int, ...],
    params: Mapping[str, Any] | None = None,
    dtype: str = "float32",
    layout: str = "torch",
    name: str = "w",
) -> TensorSpec:
    return TensorSpec(name, shape, scheme, params or {}, dtype=dtype, layout=layout)


def draw(scheme: str, shape: tuple[int, ...], params: Mapping[str, Any], seed: int) -> np.ndarray:
    """The stored float32 tensor of one request."""
    return tensor(spec(scheme, shape, params, "float32"), seed)


def random_shape(rng: random.Random, dims: int, low: int, high: int) -> tuple[int, ...]:
    return tuple(rng.randint(low, high) for _ in range(dims))


def ks_pvalue(values: np.ndarray, cdf: Callable[[Any], Any]) -> float:
    return float(stats.kstest(values.astype(np.float64).reshape(-1), cdf).pvalue)


def shape_in(example: Example, layout: str) -> tuple[int, ...]:
    """The example's tensor laid out for ``layout``: torch [out, in, *k] <-> keras/jax [*k, in, out]."""
    shape = example.shape
    if len(shape) < 2 or (example.layout == "torch") == (layout == "torch"):
        return shape
    if layout == "torch":
        return (shape[-1], shape[-2], *shape[:-2])
    return (*shape[2:], shape[1], shape[0])


# A refusal: (scheme, shape, params, layout, the field it names, a fragment of its message or allowed set)
Refusal = tuple[str, tuple[int, ...], dict[str, Any], str, str, str]


def assert_refused(scheme: str, shape: tuple[int, ...], params: dict[str, Any], layout: str, field: str,
                   fragment: str) -> None:  # fmt: skip
    """Planning the request raises an InitError that names ``field`` and says ``fragment``."""
    with pytest.raises(InitError) as error:
        _ = spec(scheme, shape, params, layout=layout).plan
    assert error.value.param == field
    assert fragment in str(error.value) + " " + (error.value.allowed or "")
