"""The README's framework-dialect examples, run: each curl body's answer is what the README shows
(file digests, the canonical scheme, the Initw-Warning header), and the Flax snippet fills a Flax
params tree that ``model.apply`` accepts. Also the README's counts and lists that move: the golden
vectors (a number that only grows) and the dtypes the request table names."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.core.dialects import DIALECTS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "v1.json"
SECTION = README[README.index("## Framework dialects") : README.index("## Command line")]


def commands(text: str) -> list[tuple[str, list[str]]]:
    """Each ``$ command`` of the indented shell examples (continuation lines joined), with its output lines."""
    found: list[tuple[str, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("    $ "):
            parts = [lines[i][6:]]
            while parts[-1].endswith("\\"):
                i += 1
                parts = [*parts[:-1], parts[-1][:-1], lines[i].strip()]
            output = []
            while i + 1 < len(lines) and lines[i + 1].startswith("    ") and not lines[i + 1].startswith("    $ "):
                i += 1
                output.append(lines[i][4:])
            found.append((" ".join(p.strip() for p in parts), output))
        i += 1
    return found


def body_of(command: str) -> dict[str, Any]:
    return json.loads(re.search(r"-d '(\{.*?\})'", command).group(1))


EXAMPLES = commands(SECTION)


def test_the_section_has_the_examples_the_checks_below_read() -> None:
    assert [c.split()[0] for c, _ in EXAMPLES] == ["curl", "curl", "sha256sum", "curl", "curl", "curl"]
    assert "docs/DIALECTS.md" in SECTION and "unflatten_dict" in SECTION and "model.apply" in SECTION


def test_both_spellings_give_the_file_the_readme_shows(client: Any) -> None:
    (first, _), (second, _), (_, digests), (canonical, printed) = EXAMPLES[:4]
    assert body_of(first)["dialect"] == "keras" and body_of(second)["scheme"] == "keras.HeNormal"
    files = [client.post("/init", json=body_of(c)).content for c in (first, second)]
    assert [line.split() for line in digests] == [
        [hashlib.sha256(files[0]).hexdigest(), "he.safetensors"],
        [hashlib.sha256(files[1]).hexdigest(), "he2.safetensors"],
    ]
    described = client.post("/init", json=body_of(canonical), headers={"accept": "application/json"}).json()
    assert printed == [str(described["request"]["tensors"][0]["scheme"])]


def test_the_warning_shown_is_the_one_sent(client: Any) -> None:
    command, shown = EXAMPLES[4]
    answer = client.post("/init", json=body_of(command))
    assert answer.status_code == 200
    assert shown == [f"initw-warning: {w}" for w in answer.headers.get_list("initw-warning")]
    quiet = client.post("/init", json={**body_of(command), "dialect": "initw"})
    assert "initw-warning" not in quiet.headers and quiet.content == answer.content


def test_the_jax_axes_query_gives_the_digest_shown(client: Any) -> None:
    command, (digest,) = EXAMPLES[5]
    query = re.search(r"'localhost:8000(/init\?[^']*)'", command).group(1)
    assert digest == f"{hashlib.sha256(client.get(query).content).hexdigest()}  -"


@pytest.mark.slow  # importing jax and flax takes seconds
def test_the_flax_snippet_fills_a_params_tree_that_apply_takes(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("flax.linen", reason="flax is not installed (pip install -e '.[test]' installs it)")
    snippet = re.search(r"```python\n(.*?)```", SECTION, re.S).group(1)

    def post(url: str, **kwargs: Any) -> httpx.Response:
        assert url.startswith("http://127.0.0.1:8000/")
        return client.post(url.removeprefix("http://127.0.0.1:8000"), **kwargs)

    monkeypatch.setattr(httpx, "post", post)
    scope: dict[str, Any] = {}
    exec(compile(snippet, "README.md", "exec"), scope)
    shapes = {layer: {k: v.shape for k, v in leaves.items()} for layer, leaves in scope["variables"]["params"].items()}
    assert shapes == {
        "Dense_0": {"kernel": (784, 256), "bias": (256,)},
        "Dense_1": {"kernel": (256, 10), "bias": (10,)},
    }
    assert set(scope["variables"]) == {"params"}
    assert scope["y"].shape == (1, 10)
    assert "{'params': {'Dense_0': {'kernel': (784, 256), 'bias': (256,)}, ...}}" in snippet


def test_the_golden_vector_count_is_at_most_the_current_one() -> None:
    """The README gives the count at its writing and says it grows: it may lag, never exceed."""
    (stated,) = re.findall(r"(\d+) golden vectors", README)
    assert 0 < int(stated) <= len(json.loads(GOLDEN.read_text())["cases"])


def test_every_dtype_and_dialect_the_request_table_names_is_served(client: Any) -> None:
    row = next(line for line in README.splitlines() if line.startswith("| `dtype` |"))
    dtypes = re.findall(r"`((?:b?float|int|complex)[0-9a-z_]*)`", row.split("|", 2)[2])
    assert {"float32", "float64", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"} <= set(dtypes)
    refused = set(re.findall(r"`([a-z0-9_]+)` is refused", row))
    for dtype in dtypes:
        status = client.post("/init", json={"shape": [4], "scheme": "zeros", "dtype": dtype}).status_code
        assert status == (422 if dtype in refused else 200), dtype
    row = next(line for line in README.splitlines() if line.startswith("| `dialect` |"))
    assert tuple(re.findall(r"`([a-z]+)`", row.split("|")[2])[: len(DIALECTS)]) == DIALECTS
