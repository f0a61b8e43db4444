"""Which implementation computes the value paths: the compiled kernels or the numpy reference.

The numpy code of this package is the written reference of every value path. The compiled
kernels, C extensions built at install time where a C compiler exists (setup.py), compute the
same bytes faster: lane-wise SIMD, one pass per block, the GIL released:

    _kernels    Philox words, the elementwise distributions, the rounding into each dtype (_kernels.c)
    _linalg     pinned tree sums and products, Householder QR (_linalg.c)

They are used when they were built and not switched off; ``INITW_KERNELS=numpy`` forces the
reference (read at import, and by ``use``).

    kernels.describe()        {"path": "compiled", "simd": "avx2", ...} or {"path": "numpy", "reason": ...}
    kernels.extension(name)   the compiled module ``name`` when the compiled path is on and it was built
    with kernels.numpy():     the reference for the duration (tests compare the two)

tests/core/test_kernels.py holds the compiled path to the reference on random requests, and both
to the golden vectors.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DTYPE_CODES",
    "ENVIRONMENT",
    "EXTENSIONS",
    "KernelArgs",
    "active",
    "describe",
    "extension",
    "fill",
    "numpy",
    "use",
    "words",
]

ENVIRONMENT = "INITW_KERNELS"
DTYPE_CODES = {"float64": 0, "float32": 1, "float16": 2, "bfloat16": 3}  # the output formats _kernels.fill writes
KernelArgs = tuple[int, tuple[float, ...]]  # a distribution for _kernels.fill: its kind and parameters
_U64 = (1 << 64) - 1
_WORDS_LIMIT = 1 << 62  # the compiled kernels address words below 2**62 (block counters below 2**60)


EXTENSIONS = ("_kernels", "_linalg", "_diagnose")


def _load(name: str) -> ModuleType | str:
    """The compiled module ``name``, or why it is missing."""
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ImportError as error:
        return f"not built ({error})"


_BUILT = {name: _load(name) for name in EXTENSIONS}
_COMPILED, _MISSING = (
    (_BUILT["_kernels"], "") if isinstance(_BUILT["_kernels"], ModuleType) else (None, _BUILT["_kernels"])
)
_state: dict[str, Any] = {"module": None, "reason": ""}


def use(choice: str | None = None) -> None:
    """Select the implementation: ``"numpy"``, ``"compiled"`` (if built), or by default what
    ``INITW_KERNELS`` says (``numpy`` or anything else: the compiled kernels when built)."""
    choice = choice or os.environ.get(ENVIRONMENT, "compiled")
    if choice == "numpy":
        _state.update(module=None, reason=f"{ENVIRONMENT}=numpy")
    elif _COMPILED is None:
        _state.update(module=None, reason=_MISSING)
    else:
        _state.update(module=_COMPILED, reason="")


def active() -> ModuleType | None:
    """The compiled module when it computes the value paths, else None (the numpy reference)."""
    module: ModuleType | None = _state["module"]
    return module


def extension(name: str) -> ModuleType | None:
    """The compiled module ``name`` (one of EXTENSIONS) when the compiled path is on and it was
    built; None: use the numpy reference."""
    built = _BUILT.get(name)
    return built if active() is not None and isinstance(built, ModuleType) else None


def describe() -> dict[str, str]:
    """Which path is active, for /version, /readyz and the start-up log."""
    module = active()
    if module is None:
        return {"path": "numpy", "reason": str(_state["reason"])}
    missing = [name for name, built in _BUILT.items() if not isinstance(built, ModuleType)]
    details = {"path": "compiled", "simd": str(module.simd())}
    if missing:
        details["partial"] = f"numpy for {', '.join(missing)} (not built)"
    return details


@contextlib.contextmanager
def numpy() -> Iterator[None]:
    """The numpy reference for the duration of the block (then the previous choice again)."""
    saved = dict(_state)
    use("numpy")
    try:
        yield
    finally:
        _state.update(saved)


def fill(args: KernelArgs, key: int, start: int, out: np.ndarray, dtype: str) -> bool:
    """Elements start .. start+len(out)-1 of the distribution ``args`` stored into ``out`` in
    ``dtype`` by the compiled kernels, in one pass; False (nothing written) on the numpy path."""
    module = active()
    code = DTYPE_CODES.get(dtype)
    if module is None or code is None:
        return False
    kind, params = args
    module.fill(kind, params, key & _U64, key >> 64, start, out.size, out, code)
    return True


def words(key: int, start: int, count: int, stream: int) -> NDArray[np.uint64] | None:
    """Philox words start .. start+count-1 of ``stream`` by the compiled kernels; None on the numpy path."""
    module = active()
    if module is None or start + count > _WORDS_LIMIT or not 0 <= stream <= _U64:
        return None  # counters beyond the compiled range (c1 = c3 = 0): the reference handles any
    out = np.empty(count, dtype=np.uint64)
    module.words(key & _U64, key >> 64, stream, start, count, out)
    return out


use()
