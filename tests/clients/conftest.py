"""Every test of the JavaScript port and client needs Node.js >= 20: checked once per module."""

import pytest

from .node import require_node


@pytest.fixture(scope="module", autouse=True)
def node_installed() -> None:
    require_node()
