"""A client generated from the committed openapi.json by a standard generator (openapi-python-client,
from PyPI: the test extra), into a temporary directory, never installed: it compiles, imports, and
against a live server fetches a file with POST /init (the same bytes as the app in process), lists
the schemes and reads a preset.

The generator reads the file and writes Python; it fetches nothing. It makes one type per response,
the first media type it knows in the document's (sorted) order: JSON for POST /init, so the
generated client asks for ``Accept: application/json`` and reads the file from its base64 member.
"""

from __future__ import annotations

import base64
import compileall
import hashlib
import importlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..e2e.servers import serving

pytestmark = pytest.mark.slow  # runs the generator and a server process

OPENAPI = Path(__file__).parents[2] / "openapi.json"
PACKAGE = "initw_client"
BODY = {"seed": 7, "tensors": [{"name": "fc.weight", "shape": [16, 8], "scheme": "kaiming_normal"},
                               {"name": "fc.bias", "shape": [16], "scheme": "zeros"}], "dtype": "bfloat16"}  # fmt: skip


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated package's parent directory (to put on sys.path)."""
    root = tmp_path_factory.mktemp("generated")
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(OPENAPI),
         "--output-path", str(root / PACKAGE), "--meta", "none"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    # A warning means an operation or a model left out of the client: the document must not need one.
    assert "Warning" not in output and "WARNING" not in output, output
    print(f"generated in {time.monotonic() - started:.1f} s")
    return root


@pytest.fixture
def generated_client(generated: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(generated))
    yield importlib.import_module(PACKAGE)
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_the_generated_client_compiles(generated):
    assert compileall.compile_dir(generated / PACKAGE, quiet=1, force=True)
    operations = sorted(p.stem for p in (generated / PACKAGE / "api").rglob("*.py") if p.stem != "__init__")
    assert {"post_init", "get_init", "list_schemes", "one_preset", "post_pretrain", "get_artifact"} <= set(operations)


def test_the_generated_client_fetches_a_file_lists_schemes_and_reads_a_preset(generated_client, client, tmp_path):
    api = importlib.import_module(f"{PACKAGE}.api")
    models = importlib.import_module(f"{PACKAGE}.models")
    post_init = importlib.import_module(f"{api.__name__}.weights.post_init")
    list_schemes = importlib.import_module(f"{api.__name__}.schemes.list_schemes")
    one_preset = importlib.import_module(f"{api.__name__}.presets.one_preset")
    expected = client.post("/init", json=BODY)  # the app in process: the file's bytes
    assert expected.status_code == 200, expected.text
    with serving("generated-client", tmp_path) as server:
        with generated_client.Client(base_url=server.url, raise_on_unexpected_status=True) as live:
            answer = post_init.sync_detailed(
                client=live, body=models.InitRequest.from_dict(BODY), accept=models.PostInitAccept("application/json")
            )
            assert answer.status_code == 200, answer.content
            assert isinstance(answer.parsed, models.PostInitResponse200)
            blob = base64.b64decode(answer.parsed.additional_properties["safetensors_base64"])
            assert hashlib.sha256(blob).digest() == hashlib.sha256(expected.content).digest()
            digest = base64.b64encode(hashlib.sha256(expected.content).digest()).decode()
            assert expected.headers["repr-digest"] == f"sha-256=:{digest}:"

            schemes = list_schemes.sync(client=live)
            names = {scheme["name"] for scheme in schemes.additional_properties["schemes"]}
            assert {"kaiming_normal", "orthogonal", "zeros"} <= names

            preset = one_preset.sync(client=live, name=models.OnePresetName("gpt2"))
            assert preset.additional_properties["name"] == "gpt2"
            example = models.InitRequest.from_dict(preset.additional_properties["example"])
            made = post_init.sync_detailed(client=live, body=example, accept=models.PostInitAccept("application/json"))
            assert made.status_code == 200  # the preset's example body, sent by the generated client
