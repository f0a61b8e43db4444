"""HTTP routes: thin shells over the spec layer and service.engine, one module per job.

``ROUTERS`` is the one list of them: the app includes these, and the OpenAPI document is made
from what they declare.
"""

from __future__ import annotations

from . import checkpoint, diagnostics, health, init, lsuv, network, playground, presets, pretrain, schemes

__all__ = ["ROUTERS"]

ROUTERS = (
    init.router,
    checkpoint.router,
    diagnostics.router,
    network.router,
    lsuv.router,
    pretrain.router,
    schemes.router,
    presets.router,
    health.router,
    playground.router,
)
