"""The scheme catalogue. Importing this package registers every scheme in ``registry.REGISTRY``."""

from . import basic, matrix, structured, variance  # noqa: F401  (registration side effects)
