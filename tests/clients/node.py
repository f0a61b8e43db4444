"""Node.js for the JavaScript tests: the executable (INITW_TEST_NODE, set, names another), and the
check that it is there and new enough (scripts/system-deps installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
JS = ROOT / "clients" / "js"
NODE = os.environ.get("INITW_TEST_NODE") or shutil.which("node")


def require_node() -> str:
    """The node executable; fails the test (never skips: CI installs it) when it is missing or older than 20."""
    if NODE is None or not os.access(NODE, os.X_OK):
        pytest.fail("node (Node.js >= 20) is not installed: run scripts/system-deps")
    version = subprocess.run([NODE, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    major = re.match(r"v(\d+)\.", version)
    if major is None or int(major.group(1)) < 20:
        pytest.fail(f"{NODE} is Node.js {version or '(no version)'}, older than 20: run scripts/system-deps")
    return NODE
