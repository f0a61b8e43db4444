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
    "NAME_INVISIBLE",
    "NAME_PATTERN",
    "Name",
    "Seed",
    "Shape",
    "TensorDtype",
    "strict_float",
    "strict_int",
]

MAX_SEED = 2**64 - 1
# Tensor and layer names (docs/ALGORITHM.md section 2): ASCII letters, digits and _ . - / : (not first
# . - / :), and every non-ASCII character except C1 controls, spaces and separators, and the invisible
# format characters that make two names look alike or reorder the text around them (soft hyphen,
# Arabic letter mark, Mongolian vowel separator, zero-width characters, bidi marks, embeddings,
# overrides and isolates, word joiner and invisible operators, BOM, interlinear annotation, tags).
# Written as a negated class of the refused characters, in literal characters, so that Python's re,
# pydantic's Rust regex and JSON Schema validators read the same set, and test generators build it
# at once (a class listing the ~1.1 million allowed code points took hypothesis 35 s per pattern).
# Lone surrogates, which no UTF-8 text holds, are outside the class only in name: a JSON string that
# escapes one is refused before the pattern (pydantic: not a valid string).
# The key derivation takes any string's UTF-8 bytes as given; only this transport rule is stricter.
NAME_INVISIBLE = (
    "\x80-\xa0\xad\u061c\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff\ufff9-\ufffb"
    "\U000e0000-\U000e007f"
)
_FIRST_OUT = "\\x00-/:-@\\[-\\^`{-\\x7f"  # ASCII but letters, digits and _
_REST_OUT = "\\x00-,;-@\\[-\\^`{-\\x7f"  # ASCII but letters, digits and _ . - / :
NAME_PATTERN = f"^[^{_FIRST_OUT}{NAME_INVISIBLE}][^{_REST_OUT}{NAME_INVISIBLE}]{{0,199}}$"


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
        description="tensor name, unique in the request, at most 200 characters: ASCII letters, digits and _ . - / : "
        "(not first . - / :) and any non-ASCII character but controls, spaces and invisible format characters; "
        "its UTF-8 bytes, not normalized, derive the tensor's key",
        json_schema_extra={"not": {"const": "__metadata__"}},
    ),
    AfterValidator(_not_reserved),
]
Dtype = Literal[FLOAT_DTYPES]  # type: ignore[valid-type]  # the values come from the core's table
# A tensor's dtype in a file: the real formats, complex64 and int64 (counters such as BatchNorm's
# num_batches_tracked: zeros, ones and integral constants only); the analyses compute in real numbers.
TensorDtype = Literal[(*FLOAT_DTYPES, *COMPLEX_DTYPES, "int64")]  # type: ignore[valid-type]  # the same
Layout = Literal[LAYOUTS]  # type: ignore[valid-type]  # the same
