"""Which initw value path the benchmarks time: the compiled kernels, the numpy reference, or both.

    python -m bench --kernels both       # core rows: initw compiled vs initw numpy vs torch (the default when built)
    python -m bench --kernels numpy      # the numpy reference only (as INITW_KERNELS=numpy does)
    python -m bench --kernels compiled   # the compiled kernels only

The core rows switch in-process (service.core.kernels.use); the servers get INITW_KERNELS in their
environment and say which path they run in /version. Both paths give the same bytes, so only the
time differs. Every table names the path it measured.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

from service.core import kernels

COMPILED, NUMPY = "compiled", "numpy"
CHOICES = ("auto", "both", COMPILED, NUMPY)


@dataclass(frozen=True)
class Paths:
    """The paths to time, the primary one first (goals are judged on it; servers run it), and why."""

    timed: tuple[str, ...]
    note: str

    @property
    def primary(self) -> str:
        return self.timed[0]

    def server_env(self) -> dict[str, str]:
        return {kernels.ENVIRONMENT: self.primary}


def compiled_built() -> bool:
    with active(COMPILED):
        return kernels.describe()["path"] == COMPILED


def why_not_compiled() -> str:
    with active(COMPILED):
        return kernels.describe().get("reason", "")


def resolve(choice: str = "auto") -> Paths:
    """``auto``: both paths when the compiled kernels are built, unless INITW_KERNELS=numpy asks for the reference."""
    if choice == "auto":
        if os.environ.get(kernels.ENVIRONMENT) == NUMPY:
            return Paths((NUMPY,), f"{kernels.ENVIRONMENT}=numpy in the environment: the numpy path only")
        choice = "both"
    if choice == NUMPY:
        return Paths((NUMPY,), "--kernels numpy: the numpy path only")
    if not compiled_built():
        return Paths((NUMPY,), f"the compiled kernels are unavailable ({why_not_compiled()}): the numpy path only")
    if choice == COMPILED:
        return Paths((COMPILED,), "--kernels compiled: the compiled path only")
    return Paths((COMPILED, NUMPY), "both paths side by side; goals judged on the compiled path")


@contextlib.contextmanager
def active(path: str) -> Iterator[None]:
    """``path`` computes the values for the duration of the block, then the previous choice exactly
    (kernels.numpy() saves and restores the whole selection; inside it, ``use`` picks the path)."""
    with kernels.numpy():
        kernels.use(path)
        yield


def describe(details: dict[str, str]) -> str:
    """One line for a table header: 'compiled (avx2)' or 'numpy (INITW_KERNELS=numpy)'."""
    extra = [value for key, value in details.items() if key != "path" and value]
    return details.get("path", "unknown") + (f" ({'; '.join(extra)})" if extra else "")


def text(path: str) -> str:
    with active(path):
        return describe(kernels.describe())


def compiled_module(name: str = "_kernels") -> ModuleType | None:
    """The compiled module ``name`` whichever path is active (None if not built): the limits are measured with it."""
    with active(COMPILED):
        return kernels.extension(name)
