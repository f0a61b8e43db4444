"""The request language: pydantic models that validate once and turn into core tensor specs."""
