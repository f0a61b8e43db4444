"""The contract as users read it: the committed openapi.json, loaded with the repository's
schemathesis.toml (its seed, generation mode, checks, and the hooks of tests/contract_checks.py)."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from schemathesis.config import SchemathesisConfig

ROOT = Path(__file__).parents[2]
CONFIG = SchemathesisConfig.from_path(ROOT / "schemathesis.toml")  # imports tests.contract_checks
schema = schemathesis.openapi.from_path(ROOT / "openapi.json", config=CONFIG)
