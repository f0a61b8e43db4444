"""The README's first example states the file's bytes (sha256sum, Repr-Digest, Content-Length,
ETag): they are a promise ("on any machine, in any year"), so they are checked, not trusted."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

from service.core.artifact import build
from service.representation import BINARY, etag
from service.spec.request import InitRequest, to_request

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_first_example_states_the_bytes_the_service_makes() -> None:
    body = json.loads(re.search(r"-d '(\{\"seed\": 0, \"shape\": \[256, 784\][^']*)'", README).group(1))
    request = to_request(InitRequest.model_validate(body))
    data = build(request).to_bytes()
    digest = hashlib.sha256(data).digest()
    assert f"{digest.hex()}  weight.safetensors" in README
    assert f"repr-digest: sha-256=:{base64.b64encode(digest).decode()}:" in README
    assert f"content-length: {len(data)}" in README
    assert f"etag: {etag(request, BINARY)}" in README
