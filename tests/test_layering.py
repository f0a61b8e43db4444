"""The shape of the house, checked: what each layer may import, and what a client-only install needs.

clients (service.client), the CLI      speak HTTP, or compute with --local: never the web framework
service/routes, app, handlers, ...     FastAPI; routes reach computation only through service.engine
service/spec                           the request language (pydantic), no web
service/analysis                       on top of generation
service/core                           generation: numpy and the standard library only
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from service.engine import Request, TensorSpec, build

ROOT = Path(__file__).resolve().parents[1]
SERVICE = ROOT / "service"
WEB = {"fastapi", "starlette", "uvicorn"}
SERVER_ONLY = {*WEB, "pydantic", "pydantic_core", "pydantic_settings"}


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((SERVICE / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("core"), ids=lambda p: str(p.relative_to(SERVICE)))
def test_generation_imports_only_numpy_and_itself(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        assert top in sys.stdlib_module_names or top == "numpy" or name.startswith("service.core"), name


@pytest.mark.parametrize("path", _modules("analysis"), ids=lambda p: str(p.relative_to(SERVICE)))
def test_analysis_builds_on_generation_and_never_on_the_web(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        allowed = name.startswith(("service.core", "service.analysis"))
        assert top in sys.stdlib_module_names or top == "numpy" or allowed, name


@pytest.mark.parametrize("path", _modules("spec"), ids=lambda p: str(p.relative_to(SERVICE)))
def test_the_request_language_is_web_free(path: Path) -> None:
    for name in _imports(path):
        assert name.split(".")[0] not in WEB, name
        assert not name.startswith(("service.routes", "service.app", "service.handlers")), name


@pytest.mark.parametrize("path", _modules("routes"), ids=lambda p: str(p.relative_to(SERVICE)))
def test_routes_reach_computation_only_through_the_engine(path: Path) -> None:
    for name in _imports(path):
        assert not name.startswith(("service.core", "service.analysis")), f"{name}: use service.engine"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_importing_the_client_imports_no_web_framework() -> None:
    done = _run("import service.client, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in "
                f"{sorted(SERVER_ONLY)!r}))")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.replace("'", '"')) == []


# A meta path finder that refuses the server's packages, as a client-only install (numpy, httpx) lacks them.
BLOCK = f"""
import importlib.abc, sys
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {sorted(SERVER_ONLY)!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (a client-only install)")
sys.meta_path.insert(0, Missing())
"""


@pytest.mark.slow  # a new interpreter
def test_the_client_verifies_and_reads_a_file_without_the_server_packages(tmp_path: Path) -> None:
    """What a client-only install has is enough: download through the client (here from a recorded
    answer), check length and digest, read the tensors."""
    artifact = build(Request(3, (TensorSpec("w", (4, 3), "xavier_uniform"), TensorSpec("b", (4,), "zeros"))))
    (tmp_path / "file").write_bytes(artifact.to_bytes())
    code = (
        BLOCK
        + f"""
import base64, hashlib, httpx
from pathlib import Path
from service.client import Client
blob = Path({str(tmp_path / "file")!r}).read_bytes()
digest = "sha-256=:" + base64.b64encode(hashlib.sha256(blob).digest()).decode() + ":"
def answer(request):
    return httpx.Response(200, content=blob, headers={{"repr-digest": digest, "content-length": str(len(blob))}})
with Client("http://initw.test", transport=httpx.MockTransport(answer)) as client:
    tensors = client.init({{"seed": 3, "tensors": []}})
print(sorted((name, list(values.shape)) for name, values in tensors.items()))
"""
    )
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[('b', [4]), ('w', [4, 3])]"
    assert "pydantic" in _run(BLOCK + "import pydantic").stderr  # the blocker does block


@pytest.mark.slow  # a new interpreter
def test_the_cli_computes_locally_without_the_web_framework(tmp_path: Path) -> None:
    target = tmp_path / "w.safetensors"
    code = f"""
import sys
from service.__main__ import main
code = main(["init", "--shape", "4,3", "--scheme", "xavier_uniform", "--seed", "3", "-o", {str(target)!r}, "--local"])
web = [m for m in sys.modules if m.split(".")[0] in {sorted(WEB)!r}]
web += [m for m in sys.modules if m.startswith(("service.routes", "service.app", "service.handlers"))]
print(code, sorted(web))
"""
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 []"
    expected = build(Request(3, (TensorSpec("weight", (4, 3), "xavier_uniform"),))).to_bytes()
    assert target.read_bytes() == expected


def test_a_plain_install_is_the_client_and_the_service_is_an_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(r.split(">")[0].split("=")[0] for r in project["dependencies"]) == ["httpx", "numpy"]
    server = {r.split(">")[0].split("=")[0] for r in project["optional-dependencies"]["server"]}
    assert {"fastapi", "uvicorn", "pydantic"} <= server


@pytest.mark.slow  # a new interpreter
def test_the_command_line_on_a_client_only_install_says_what_to_install() -> None:
    done = _run(BLOCK + "import sys; sys.argv = ['service', 'schemes']; import runpy; runpy.run_module('service')")
    assert done.returncode == 1
    assert "pip install 'initw[server]'" in done.stderr and "Traceback" not in done.stderr
