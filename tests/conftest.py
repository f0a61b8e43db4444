"""Shared fixtures: an in-process client of the app (Starlette's TestClient runs the lifespan)."""

import pytest
from starlette.testclient import TestClient

from service.app import create_app
from service.settings import Settings


@pytest.fixture(scope="session")
def client():
    settings = Settings(max_elements=1 << 22, json_max_bytes=1 << 20, max_body_bytes=64 << 10)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def streaming_client():
    """Every file streamed in bounded memory (nothing is 'small enough' to hold)."""
    settings = Settings(max_elements=1 << 24, memory_bytes=0, json_max_bytes=1 << 20)
    with TestClient(create_app(settings)) as test_client:
        yield test_client
