"""What the README and docs/REQUESTS.md state that moves with the code: the golden-vector count (a
number that only grows) and the dtypes and dialects the request table names. Their examples are run
by tests/docs/test_examples.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from service.core.dialects import DIALECTS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
REQUESTS = (ROOT / "docs" / "REQUESTS.md").read_text()
GOLDEN = ROOT / "tests" / "golden" / "v1.json"


def test_the_golden_vector_count_is_at_most_the_current_one() -> None:
    """The README gives the count at its writing and says it grows: it may lag, never exceed."""
    (stated,) = re.findall(r"(\d+) golden vectors", README)
    assert 0 < int(stated) <= len(json.loads(GOLDEN.read_text())["cases"])


def test_every_dtype_and_dialect_the_request_table_names_is_served(client: Any) -> None:
    row = next(line for line in REQUESTS.splitlines() if line.startswith("| `dtype` |"))
    dtypes = re.findall(r"`((?:b?float|int|complex)[0-9a-z_]*)`", row.split("|", 2)[2])
    assert {"float32", "float64", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"} <= set(dtypes)
    refused = set(re.findall(r"`([a-z0-9_]+)` is refused", row))
    for dtype in dtypes:
        status = client.post("/init", json={"shape": [4], "scheme": "zeros", "dtype": dtype}).status_code
        assert status == (422 if dtype in refused else 200), dtype
    row = next(line for line in REQUESTS.splitlines() if line.startswith("| `dialect` |"))
    assert tuple(re.findall(r"`([a-z]+)`", row.split("|")[2])[: len(DIALECTS)]) == DIALECTS
