"""Layer-sequential unit-variance init (Mishkin & Matas, "All you need is a good init", ICLR 2016).

    for each layer l in order:
        W_l = orthogonal (gain 1): the core's bytes for ``layers.{l}.weight``
        repeat at most max_iterations times:
            h = x W_l^T + b_l                       (pinned matmul: a tree sum over inputs)
            v = variance of all of h                (tree sums: mean, then mean squared deviation)
            stop if |v - target| < tolerance
            W_l = W_l * sqrt(target / v)            (the factor computed once, in Python floats)
        x = phi(h)                                  (pinned activations)

Every step uses pinned arithmetic, so the result is the same on every machine for a seed and an
input batch, as the bytes of any other scheme are. The variance is taken before the activation,
over the whole output (Caffe's ``var_before_relu``), as in the paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..core.cancel import checkpoint
from ..core.errors import InitError
from ..core.fpstate import pinned
from ..core.generate import TensorSpec, generate
from ..core.pinned import MATMUL_BLOCK, dot_rows, tree_sum
from .activations import ACTIVATIONS
from .network import Network

__all__ = ["Settings", "cost", "lsuv", "memory"]


@dataclass(frozen=True)
class Settings:
    tolerance: float = 0.1
    max_iterations: int = 10
    target_variance: float = 1.0


def _variance(h: np.ndarray) -> float:
    flat = h.reshape(-1)
    mean = float(tree_sum(flat)) / flat.size
    centered = flat - mean
    return float(tree_sum(centered * centered)) / flat.size


def cost(net: Network, batch: int, iterations: int) -> int:
    """Pinned multiply-adds, at most: every layer's product on the batch, once per iteration and
    once more for the output that feeds the next layer."""
    widths = [net.input_width] + [layer.width for layer in net.layers]
    return batch * sum(a * b for a, b in zip(widths, widths[1:], strict=False)) * (iterations + 1)


def memory(net: Network, batch: int) -> int:
    """Upper bound on the bytes LSUV holds: the stack's pass (``Network.memory``) and the pinned
    matmul's products (``pinned.matmul``: rows of the batch at a time, ~2^22 products or one
    row's fan_in x width), with the tree's first level beside them."""
    widths = [net.input_width] + [layer.width for layer in net.layers]
    block = max(min(batch, max(1, MATMUL_BLOCK // (a * b))) * a * b for a, b in zip(widths, widths[1:], strict=False))
    return net.memory(batch, exact_jacobian=False) + 2 * 8 * block


@pinned
def lsuv(
    net: Network, seed: int, x0: np.ndarray, settings: Settings
) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """The LSUV weights (float64, by tensor name; biases as generated) and a report per layer."""
    tensors: dict[str, np.ndarray] = {}
    report = []
    x = x0
    for index, layer in enumerate(net.layers):
        if layer.norm is not None:
            raise InitError("LSUV rescales plain layers; remove the norm", param=f"layers.{index}.norm", allowed="null")
        orthogonal = TensorSpec(layer.weight.name, layer.weight.shape, "orthogonal", dtype="float64")
        w = generate(orthogonal, seed).reshape(orthogonal.shape)
        b = None
        if layer.bias is not None:
            b = generate(replace(layer.bias, dtype="float64"), seed)
            tensors[layer.bias.name] = b
        iterations, variance = 0, math.nan
        while True:
            checkpoint()  # a client that left stops LSUV here (service.core.cancel)
            h = dot_rows(x, w)
            if b is not None:
                h = h + b
            variance = _variance(h)
            if abs(variance - settings.target_variance) < settings.tolerance or iterations == settings.max_iterations:
                break
            if not variance > 0.0 or not math.isfinite(variance):
                raise InitError(f"layer {index}'s output variance is {variance}: LSUV cannot rescale it",
                                param=f"layers.{index}")  # fmt: skip
            w = w * math.sqrt(settings.target_variance / variance)
            iterations += 1
        tensors[layer.weight.name] = w
        report.append({"layer": index, "iterations": iterations, "variance": variance,
                       "converged": abs(variance - settings.target_variance) < settings.tolerance})  # fmt: skip
        y = ACTIVATIONS[layer.activation].f(h)
        x = x + y if layer.residual else y
    return tensors, report
