"""The one door from the HTTP layer and the CLI into what the service computes.

Routes and commands speak to the spec layer (what a request says) and to this module (what is
computed from it): generation (service.core) and analysis (service.analysis), under the names they
are used by. Neither package imports anything of the web.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .analysis.lsuv import Settings as LsuvSettings
from .analysis.lsuv import cost as lsuv_cost
from .analysis.lsuv import lsuv
from .analysis.lsuv import memory as lsuv_memory
from .analysis.network import EXACT_JACOBIAN_WIDTH, Network, diagnose_network
from .analysis.pretrain import Training, pretrain
from .analysis.pretrain import cost as pretrain_cost
from .analysis.pretrain import memory as pretrain_memory
from .core import kernels
from .core.artifact import (
    Artifact,
    Request,
    build,
    canonical_json,
    diagnostics_report,
    plan,
    sample_runs,
    tensor_bytes,
    working_bytes,
)
from .core.catalogue import catalogue, describe, describe_word, dialect_catalogue
from .core.checkpoint import FILE_PATTERN, INDEX_NAME, SIZE_PATTERN, Checkpoint, checkpoint, parse_size
from .core.dialects import DIALECTS
from .core.dialects import lookup as dialect_word
from .core.dtypes import get_dtype
from .core.errors import InitError
from .core.generate import TensorSpec, algorithm, generate
from .core.parallel import keep_freed_memory
from .core.read import dtype_name
from .core.registry import get_scheme
from .core.write import TensorBytes, file_bytes, file_pieces

__all__ = [
    "DIALECTS",
    "EXACT_JACOBIAN_WIDTH",
    "FILE_PATTERN",
    "INDEX_NAME",
    "SIZE_PATTERN",
    "Artifact",
    "Checkpoint",
    "InitError",
    "LsuvSettings",
    "Network",
    "Request",
    "TensorSpec",
    "Training",
    "algorithm",
    "build",
    "canonical_json",
    "catalogue",
    "checkpoint",
    "describe",
    "describe_word",
    "dialect_catalogue",
    "dialect_word",
    "diagnose_network",
    "diagnostics_report",
    "dtype_name",
    "TensorBytes",
    "file_bytes",
    "file_pieces",
    "finite",
    "generate",
    "get_dtype",
    "get_scheme",
    "keep_freed_memory",
    "kernels_in_use",
    "lsuv",
    "lsuv_cost",
    "lsuv_memory",
    "parse_size",
    "plan",
    "pretrain",
    "pretrain_cost",
    "pretrain_memory",
    "report_text",
    "sample_runs",
    "tensor_bytes",
    "working_bytes",
]


def kernels_in_use() -> dict[str, str]:
    """Which implementation computes the values: the compiled kernels (and their SIMD level) or
    the numpy reference (and why). Either gives the same bytes."""
    return kernels.describe()


def finite(value: Any) -> Any:
    """``value`` with every inf and NaN replaced by None: JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def report_text(report: Any) -> str:
    """A report as the service sends it: JSON, sorted keys, no spaces, inf and NaN as null."""
    return json.dumps(finite(report), sort_keys=True, separators=(",", ":"))
