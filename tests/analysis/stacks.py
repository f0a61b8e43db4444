"""Square stacks of dense layers for the analysis tests: ``depth`` layers of ``width`` units, each
initialized by ``scheme`` (the bytes POST /init gives for ``layers.{i}.weight``)."""

from __future__ import annotations

from typing import Any

from service.analysis.network import DenseLayer, Network, layer_tensors


def stack(
    activation: str,
    scheme: str,
    params: dict[str, Any] | None = None,
    depth: int = 50,
    width: int = 256,
    bias: tuple[str, dict[str, Any]] | None = None,
    norm: str | None = None,
    residual: bool = False,
) -> Network:
    layers = []
    for i in range(depth):
        w, b = layer_tensors(i, width, width, (scheme, params or {}), bias, "float32")
        layers.append(DenseLayer(width, activation, w, b, norm, residual))
    return Network(width, tuple(layers))
