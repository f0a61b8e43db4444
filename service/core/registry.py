"""The scheme registry: the single source for names, aliases, parameters and formulas.

A scheme is a function ``(ctx, **params) -> Plan`` whose docstring states its formula, registered
with ``@scheme(...)`` together with its parameters and an example tensor. Validation in the core,
the HTTP models, the OpenAPI schema, ``GET /schemes``, docs/SCHEMES.md, the golden vectors and the
table-driven tests all read this registry: adding a scheme is one decorated function (with its
example) in a module of service/core/schemes, its tests, and the regenerated files.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from . import kernels
from .bits import philox_words
from .complex_distributions import ComplexDistribution
from .distributions import Distribution, Theory
from .errors import InitError
from .fans import Fans, Layout

__all__ = [
    "REGISTRY",
    "REQUIRED",
    "Context",
    "Elementwise",
    "Example",
    "Paired",
    "Param",
    "Placed",
    "Plan",
    "Scheme",
    "Whole",
    "all_names",
    "get_scheme",
    "scheme",
]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Param:
    """One scheme parameter: its type, default and allowed values."""

    name: str
    kind: str  # "float" | "int" | "str" | "bool" | "axes" (an axis or a list of axes, as JAX takes them)
    default: Any = REQUIRED
    description: str = ""
    choices: tuple[str, ...] | None = None
    minimum: float | None = None  # inclusive
    maximum: float | None = None  # inclusive
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    casefold: bool = False  # accept any case for choices (PyTorch lower-cases `mode`)
    synonyms: Mapping[str, str] = field(default_factory=dict)  # accepted spelling -> canonical choice
    # Added after v1's golden vectors: left out of the canonical form unless the request gives it,
    # so that every request written before it existed keeps its bytes (its default changes nothing).
    implicit: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def allowed(self) -> str:
        """What this parameter accepts, in words."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "axes":
            return "an axis (an integer, negative from the end) or a list of distinct axes"
        parts = []
        if self.exclusive_minimum is not None:
            parts.append(f"> {self.exclusive_minimum:g}")
        if self.minimum is not None:
            parts.append(f">= {self.minimum:g}")
        if self.exclusive_maximum is not None:
            parts.append(f"< {self.exclusive_maximum:g}")
        if self.maximum is not None:
            parts.append(f"<= {self.maximum:g}")
        noun = "an integer" if self.kind == "int" else "a finite number"
        return noun + (" " + " and ".join(parts) if parts else "")

    def validate(self, value: Any) -> Any:
        """The canonical value, or an InitError naming this parameter and what it allows."""
        bad = InitError(f"{self.name} must be {self.allowed()}, got {value!r}", param=self.name, allowed=self.allowed())
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise bad
            return value
        if self.kind == "axes":
            axes = [value] if isinstance(value, int) else value
            if (
                not isinstance(axes, (list, tuple))
                or len(axes) > 8
                or any(isinstance(a, bool) or not isinstance(a, int) for a in axes)
                or len(set(axes)) != len(axes)
            ):
                raise bad
            return value if isinstance(value, int) else list(axes)
        if self.kind == "str":
            if not isinstance(value, str):
                raise bad
            folded = value.lower() if self.casefold else value
            folded = self.synonyms.get(folded, folded)
            if self.choices and folded not in self.choices:
                raise bad
            return folded
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if self.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise bad
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise bad
        if (
            (self.minimum is not None and value < self.minimum)
            or (self.maximum is not None and value > self.maximum)
            or (self.exclusive_minimum is not None and value <= self.exclusive_minimum)
            or (self.exclusive_maximum is not None and value >= self.exclusive_maximum)
        ):
            raise bad
        return value


@dataclass(frozen=True, init=False)
class Context:
    """What a scheme may know about the tensor it initializes."""

    shape: tuple[int, ...]
    layout: str
    fans: Fans
    complex: bool  # the tensor is complex: a scheme that draws complex values returns a Paired plan

    # Written out so that ``fans`` is always a Fans, the shape's own unless overridden.
    def __init__(
        self, shape: tuple[int, ...], layout: str = "torch", fans: Fans | None = None, complex: bool = False
    ) -> None:
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "layout", layout)
        object.__setattr__(self, "fans", Fans(shape, layout) if fans is None else fans)
        object.__setattr__(self, "complex", complex)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


class Plan:
    """How to produce the float64 values of one tensor: any element range, in C order."""

    theory: Theory
    random_access: bool = True
    checks: Mapping[str, Any] = {}  # extra structure for the diagnostics (orthogonal gain, ...)

    def values(self, key: int, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError


class Elementwise(Plan):
    """Element i is ``distribution.sample(word i)``: every range can be generated on its own."""

    def __init__(self, distribution: Distribution, checks: Mapping[str, Any] | None = None) -> None:
        self.distribution = distribution
        self.theory = distribution.theory
        self.checks = checks or {}

    def values(self, key: int, start: int, stop: int) -> np.ndarray:
        if not self.distribution.needs_words:
            return self.distribution.fill(stop - start)
        return self.distribution.sample(philox_words(key, start, stop - start))

    def fill_into(self, key: int, start: int, out: np.ndarray, dtype: str) -> bool:
        """Elements start .. start+len(out)-1 rounded into ``out`` in one compiled pass; False
        (nothing written) where the compiled kernels are off or do not cover the distribution."""
        args = self.distribution.kernel
        return args is not None and kernels.fill(args, key, start, out, dtype)


class Paired(Plan):
    """A complex tensor: element i is ``distribution.pair(word 2i, word 2i+1)``, random access."""

    def __init__(self, distribution: ComplexDistribution) -> None:
        self.distribution = distribution
        self.theory = distribution.theory  # of the real and imaginary parts, pooled
        self.checks = {}

    def values(self, key: int, start: int, stop: int) -> np.ndarray:
        if not self.distribution.needs_words:
            return self.distribution.fill_pairs(stop - start)
        words = philox_words(key, 2 * start, 2 * (stop - start))
        return self.distribution.pair(words[0::2], words[1::2])


class Placed(Plan):
    """Zeros with one value at a few fixed positions (eye, dirac): random access, no words."""

    def __init__(self, positions: np.ndarray, value: float, theory: Theory, checks: Mapping[str, Any] | None = None):
        self.positions = np.sort(np.asarray(positions, dtype=np.int64).reshape(-1))
        self.value, self.theory = value, theory
        self.checks = checks or {}

    def values(self, key: int, start: int, stop: int) -> np.ndarray:
        out = np.zeros(stop - start)
        first, last = np.searchsorted(self.positions, [start, stop])
        out[self.positions[first:last] - start] = self.value
        return out


class Whole(Plan):
    """The tensor is computed as a whole (orthogonal, row-normalized, sparse); ranges are slices."""

    random_access = False

    def __init__(
        self, build: Callable[[int], np.ndarray], theory: Theory, checks: Mapping[str, Any] | None = None
    ) -> None:
        self.build, self.theory = build, theory
        self.checks = checks or {}
        self._cache: tuple[int, np.ndarray] | None = None

    def values(self, key: int, start: int, stop: int) -> np.ndarray:
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, np.ascontiguousarray(self.build(key), dtype=np.float64).reshape(-1))
        return self._cache[1][start:stop]


@dataclass(frozen=True)
class Example:
    """A tensor the scheme accepts: the one table of examples, declared beside the formula.

    The scheme's golden vectors are this tensor in every dtype (tests/golden/make_v1.py appends
    them); the table-driven tests run every scheme on it; ``GET /schemes`` shows it as a request.
    Once its golden cases are committed it is part of v1: a test fails if it no longer matches them.
    ``params`` are the ones a request spells out (prefer values other than the defaults).
    """

    shape: tuple[int, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    layout: Layout = "torch"


@dataclass(frozen=True)
class Scheme:
    """A registered initialization scheme."""

    name: str
    aliases: tuple[str, ...]
    params: tuple[Param, ...]
    build: Callable[..., Plan]
    random_access: bool
    family: str
    example: Example
    rank: tuple[int, int] | None = None  # allowed (min, max) rank, None = any

    @property
    def summary(self) -> str:
        return self.doc.split("\n\n")[0].replace("\n", " ")

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.build.__doc__ or "")

    def resolve(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Validated parameters with defaults filled in: the canonical form of this scheme."""
        raw = self._given(raw)
        known = {p.name for p in self.params}
        unknown = sorted(set(raw) - known)
        if unknown:
            allowed = ", ".join(sorted(known)) or "no parameters"
            raise InitError(
                f"{self.name} has no parameter {unknown[0]!r}; it takes {allowed}", param=unknown[0], allowed=allowed
            )
        resolved = {}
        for p in self.params:
            if p.name in raw:
                resolved[p.name] = p.validate(raw[p.name])
            elif p.required:
                raise InitError(
                    f"{self.name} needs parameter {p.name!r} ({p.allowed()})", param=p.name, allowed=p.allowed()
                )
            else:
                resolved[p.name] = p.default
        return resolved

    def canonical(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters the bytes depend on, as the canonical request states them: every one,
        defaults filled in, except an implicit parameter the request did not give."""
        resolved = self.resolve(raw)
        given = self._given(raw)
        implicit = {p.name for p in self.params if p.implicit and p.name not in given}
        return {name: value for name, value in resolved.items() if name not in implicit}

    def _given(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        """``raw`` without the nulls of parameters whose default is null: null means not given."""
        optional = {p.name for p in self.params if p.default is None}
        return {k: v for k, v in raw.items() if not (v is None and k in optional)}

    def plan(self, ctx: Context, params: Mapping[str, Any] | None = None) -> Plan:
        """Validate ``params`` against this scheme and the tensor, and return its plan."""
        resolved = self.resolve(params or {})
        self.check_rank(ctx.shape)
        return self.build(ctx, **resolved)

    def check_rank(self, shape: tuple[int, ...]) -> None:
        if self.rank is None:
            return
        low, high = self.rank
        if not low <= len(shape) <= high:
            allowed = f"{low}" if low == high else f"{low} to {high}"
            raise InitError(
                f"{self.name} supports tensors with {allowed} dimensions, got shape {list(shape)}",
                param="shape",
                allowed=f"{allowed} dimensions",
            )


REGISTRY: dict[str, Scheme] = {}
_ALIASES: dict[str, str] = {}


_BuildT = TypeVar("_BuildT", bound=Callable[..., Plan])


def scheme(
    name: str,
    *,
    params: tuple[Param, ...] = (),
    aliases: tuple[str, ...] = (),
    family: str,
    example: Example,
    random_access: bool = True,
    rank: tuple[int, int] | None = None,
) -> Callable[[_BuildT], _BuildT]:
    """Register the decorated ``(ctx, **params) -> Plan`` function as scheme ``name``, which accepts ``example``."""

    def register(build: _BuildT) -> _BuildT:
        for n in (name, *aliases):
            if n in REGISTRY or n in _ALIASES:
                raise RuntimeError(f"scheme name {n!r} registered twice")
        REGISTRY[name] = Scheme(name, aliases, params, build, random_access, family, example, rank)
        _ALIASES.update(dict.fromkeys(aliases, name))
        return build

    return register


def get_scheme(name: str) -> Scheme:
    """The scheme called ``name`` or one of its aliases."""
    canonical = _ALIASES.get(name, name)
    if canonical not in REGISTRY:
        raise InitError(
            f"unknown scheme {name!r}; GET /schemes lists them",
            param="name",
            allowed=", ".join(sorted([*REGISTRY, *_ALIASES])),
        )
    return REGISTRY[canonical]


def all_names() -> list[str]:
    """Every accepted scheme name, canonical names and aliases, sorted."""
    return sorted([*REGISTRY, *_ALIASES])
