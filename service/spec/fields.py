"""Field types of the request language: strict numbers, names, shapes, seeds.

pydantic's lax mode turns ``true`` into 1 and ``"5"`` into 5; a JSON schema calls neither an
integer, and a reproducibility service must not guess. These types accept exactly what the
published schema says: integers (and floats with an integral value, which JSON Schema counts as
integers), finite numbers, and nothing else.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from ..core.dtypes import COMPLEX_DTYPES, FLOAT_DTYPES
from ..core.fans import LAYOUTS
from ..core.generate import MAX_RANK

__all__ = [
    "Dim",
    "Dtype",
    "Fan",
    "Layout",
    "MAX_SEED",
    "NAME_PATTERN",
    "Name",
    "Seed",
    "Shape",
    "TensorDtype",
    "strict_float",
    "strict_int",
]

MAX_SEED = 2**64 - 1
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-/:]{0,199}$"


def strict_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be an integer (not a string or boolean)")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be an integer")
        return int(value)
    return value


def strict_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a number (not a string or boolean)")
    try:
        value = float(value)
    except OverflowError:  # a JSON integer beyond float64 (pydantic reports only ValueError)
        raise ValueError("must be a finite number within float64 range") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Seed = Annotated[
    int,
    Field(ge=0, le=MAX_SEED, description="0 .. 2^64-1; the same seed gives the same bytes forever"),
    BeforeValidator(strict_int),
]
Dim = Annotated[int, Field(ge=1, le=2**40, description="a positive dimension"), BeforeValidator(strict_int)]
Fan = Annotated[
    int, Field(ge=1, le=2**40, description="overrides the fan computed from the shape"), BeforeValidator(strict_int)
]
Shape = Annotated[list[Dim], Field(max_length=MAX_RANK, description=f"dimensions, C order, at most {MAX_RANK}")]


def _not_reserved(name: str) -> str:
    if name == "__metadata__":
        raise ValueError("'__metadata__' is reserved by the safetensors format")
    return name


Name = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="tensor name: ASCII letters, digits and _ . - / :, at most 200 characters, unique in the request",
        json_schema_extra={"not": {"const": "__metadata__"}},
    ),
    AfterValidator(_not_reserved),
]
Dtype = Literal[FLOAT_DTYPES]  # type: ignore[valid-type]  # the values come from the core's table
# A tensor's dtype in a file: the real formats, complex64 and int64 (counters such as BatchNorm's
# num_batches_tracked: zeros, ones and integral constants only); the analyses compute in real numbers.
TensorDtype = Literal[(*FLOAT_DTYPES, *COMPLEX_DTYPES, "int64")]  # type: ignore[valid-type]  # the same
Layout = Literal[LAYOUTS]  # type: ignore[valid-type]  # the same
