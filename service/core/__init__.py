"""The pure core: bits, transforms, schemes, fans and gains, generation, diagnostics.

Nothing here imports a web framework; the HTTP layer is a thin shell over it.
"""

__all__ = [
    "artifact",
    "bits",
    "catalogue",
    "checkpoint",
    "diagnose",
    "distributions",
    "dtype_codes",
    "dtypes",
    "errors",
    "fans",
    "generate",
    "householder",
    "kernels",
    "normal",
    "parallel",
    "pinned",
    "read",
    "registry",
    "schemes",
    "spread",
    "write",
]
