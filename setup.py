"""The optional compiled kernels (service/core/_kernels.c): built where a C compiler exists.

Everything else is declared in pyproject.toml. Without a compiler, or if the build fails, the
install still succeeds and the numpy reference serves the same bytes (service/core/kernels.py).
INITW_BUILD_KERNELS=0 skips the build on purpose.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# One IEEE operation at a time, as docs/ALGORITHM.md requires: no contraction into fused
# multiply-adds (GCC contracts by default where FMA exists), no fast-math. -fno-math-errno only
# lets sqrt and rint become instructions; it changes no value.
FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-math-errno", "-std=c11"]
BITS = ["service/core/_bits.h"]  # included by two kernels: a change rebuilds both


class OptionalBuildExt(build_ext):
    """Build the kernels if possible; otherwise say why and carry on with the numpy path."""

    def run(self) -> None:
        if os.environ.get("INITW_BUILD_KERNELS", "1") == "0":
            print("initw: INITW_BUILD_KERNELS=0: the compiled kernels are not built", file=sys.stderr)
            return
        try:
            super().run()
        except Exception as error:  # no compiler, no headers: the numpy path serves
            print(f"initw: the compiled kernels were not built ({error}); the numpy path serves", file=sys.stderr)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as error:
            print(f"initw: building {ext.name} failed ({error}); the numpy path serves", file=sys.stderr)


setup(
    ext_modules=[
        Extension("service.core._kernels", ["service/core/_kernels.c"], extra_compile_args=FLAGS, depends=BITS),
        Extension("service.core._linalg", ["service/core/_linalg.c"], extra_compile_args=FLAGS),
        Extension("service.core._diagnose", ["service/core/_diagnose.c"], extra_compile_args=FLAGS, depends=BITS),
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
