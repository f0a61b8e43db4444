"""initw: a REST microservice that serves seeded, byte-reproducible neural-network weights."""

__version__ = "0.1.0"

__all__ = ["__version__"]
