"""The scheme catalogue. Importing this package registers every scheme in ``registry.REGISTRY``."""

from . import basic, matrix, structured, variance  # importing them registers their schemes

__all__ = ["basic", "matrix", "structured", "variance"]
