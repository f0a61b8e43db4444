"""The JavaScript client (clients/js) against a real server: its node:test suite with INITW_URL
set, and byte-for-byte agreement of the files it writes with what httpx downloads.

Node.js >= 20 comes from the system (scripts/system-deps installs it; INITW_TEST_NODE, set, names
the executable, else `node` on PATH). Missing or older, every test here fails and says so."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.servers import ROOT, Server, serving

from .node import JS, NODE

pytestmark = pytest.mark.slow  # Node.js against a real server process


BODIES: dict[str, dict[str, Any]] = {
    "mixed": {
        "seed": 7,
        "tensors": [
            {"name": "q.weight", "shape": [24, 40], "scheme": "orthogonal"},
            {"name": "q.bias", "shape": [24], "scheme": "zeros", "dtype": "bfloat16"},
            {
                "name": "ff.weight",
                "shape": [48, 24],
                "scheme": {"name": "truncated_normal", "std": 0.02},
                "dtype": "float16",
            },  # fmt: skip
            {"name": "ff.scale", "shape": [48], "scheme": "ones", "dtype": "float64"},
        ],
    },
    "large": {"seed": 2**64 - 1, "shape": [512, 1024], "scheme": "kaiming_normal"},  # 2 MiB: many chunks
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving("js", tmp_path_factory.mktemp("js-client")) as running:
        yield running


def node(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run(
        [NODE, *args], cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120
    )


def test_node_suite_against_live_server(server: Server) -> None:
    done = node("--test", "--test-reporter=tap", str(JS / "test" / "client.test.mjs"), env={"INITW_URL": server.url})
    report = f"exit {done.returncode}\n{done.stdout[-12000:]}\n{done.stderr[-4000:]}"
    assert done.returncode == 0, report
    assert "# fail 0" in done.stdout, report
    assert "# skipped 0" in done.stdout, report  # the live tests ran: INITW_URL reached them


@pytest.mark.parametrize("name", sorted(BODIES))
def test_fetch_writes_the_bytes_httpx_gets(server: Server, tmp_path: Path, name: str) -> None:
    body = BODIES[name]
    target = tmp_path / f"{name}.safetensors"
    done = node(str(JS / "fetch.mjs"), server.url, json.dumps(body), str(target))
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)

    response = server.client.post("/init", json=body)
    assert response.status_code == 200, response.text
    expected = hashlib.sha256(response.content).digest()
    written = target.read_bytes()
    assert written == response.content
    assert hashlib.sha256(written).digest() == expected
    assert response.headers["repr-digest"] == f"sha-256=:{base64.b64encode(expected).decode()}:"
    assert printed == {
        "path": str(target),
        "size": len(response.content),
        "sha256": expected.hex(),
        "etag": response.headers["etag"],
        "attempts": 1,
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary file left


def test_fetch_reports_a_problem_and_writes_nothing(server: Server, tmp_path: Path) -> None:
    target = tmp_path / "bad.safetensors"
    body = {"seed": 0, "tensors": [{"name": "w", "shape": [4, 4], "scheme": {"name": "normal", "std": -1}}]}
    done = node(str(JS / "fetch.mjs"), server.url, json.dumps(body), str(target))
    assert done.returncode == 1, done.stderr
    problem = json.loads(done.stderr)
    assert problem["status"] == 422
    assert [e["field"] for e in problem["errors"]] == ["tensors.0.scheme.std"]
    assert list(tmp_path.iterdir()) == []
