"""Network analysis on top of generation: signal propagation, mean field, LSUV, pre-training.

It uses generated tensors (``service.core``) and never the reverse: nothing in ``service.core``
imports this package.
"""

__all__ = ["activations", "lsuv", "meanfield", "network", "pretrain"]
