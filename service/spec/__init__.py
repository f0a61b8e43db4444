"""The request language: pydantic models that validate once and turn into core tensor specs."""

__all__ = ["architectures", "errors", "fields", "layers", "network", "pretrain", "request", "schemes", "text"]
