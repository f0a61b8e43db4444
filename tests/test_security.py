"""Security properties: no client-named paths, uploads parsed only as safetensors, CORS off unless
configured."""

from __future__ import annotations

import ast
import base64
import pickle
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from service.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SERVICE = ROOT / "service"
# Calls and imports that would execute, unpickle or open what a client sent, or run a program.
FORBIDDEN_IMPORTS = {"pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib", "subprocess"}
FORBIDDEN_NAMES = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_METHODS = {("os", "system"), ("os", "popen"), ("np", "load"), ("numpy", "load")}


def service_modules() -> list[Path]:
    return sorted(SERVICE.rglob("*.py"))


@pytest.mark.parametrize("path", service_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_can_unpickle_execute_or_spawn(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not {alias.name.split(".")[0] for alias in node.names} & FORBIDDEN_IMPORTS, ast.dump(node)
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in FORBIDDEN_IMPORTS, ast.dump(node)
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                forbidden = (ast.unparse(node.func.value), node.func.attr) in FORBIDDEN_METHODS  # np.load unpickles
            else:
                forbidden = getattr(node.func, "id", "") in FORBIDDEN_NAMES
            assert not forbidden, f"{path.name}:{node.lineno}: {ast.unparse(node)}"
        elif isinstance(node, ast.keyword) and node.arg == "allow_pickle":
            raise AssertionError(f"{path.name}:{node.value.lineno}: allow_pickle")


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory):
    jobs = tmp_path_factory.mktemp("jobs")
    with TestClient(create_app(Settings(job_dir=str(jobs)))) as client:
        yield client, jobs


def test_tensor_names_are_names_never_paths(app_client) -> None:
    client, jobs = app_client
    before = set(jobs.rglob("*"))
    # Names may hold "/", "." and ":" (module paths such as "encoder/layer.0:weight"): names only.
    names = ["etc/../../passwd", "a/b/c", "x:y", "_..", "0/.."]
    body = {"seed": 0, "tensors": [{"name": n, "shape": [2, 2], "scheme": "zeros"} for n in names]}
    response = client.post("/init", json=body)
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="initw-') and "/" not in disposition
    assert set(jobs.rglob("*")) == before  # nothing written for an /init
    # What cannot be a tensor name is refused with its field path.
    for i, name in enumerate(["../../etc/passwd", "/abs", "a\\b", "C:\\x", "..", "~root"]):
        body = {"seed": 0, "tensors": [{"name": "ok", "shape": [1], "scheme": "zeros"},
                                       {"name": name, "shape": [1], "scheme": "zeros"}]}  # fmt: skip
        refused = client.post("/init", json=body)
        assert refused.status_code == 422, (i, name)
        assert refused.json()["errors"][0]["field"] == "tensors.1.name"


@pytest.mark.parametrize(
    "job", ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "0" * 32 + "%0A", "0" * 31 + "G", "..%2F", "~", "0" * 64]
)
def test_job_ids_that_are_not_ids_are_unknown(app_client, job: str) -> None:
    client, _ = app_client
    for method, path in (("GET", f"/pretrain/{job}"), ("GET", f"/pretrain/{job}/artifact"),
                         ("DELETE", f"/pretrain/{job}")):  # fmt: skip
        response = client.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_a_pickle_upload_is_refused_as_not_safetensors(app_client, monkeypatch) -> None:
    client, _ = app_client

    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle an upload")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    payload = base64.b64encode(pickle.dumps({"weight": np.zeros((2, 2))})).decode()
    body = {"seed": 0, "shape": [2, 2], "scheme": "zeros", "pretrained": payload}
    response = client.post("/init", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert any(error["field"].startswith("pretrained") for error in problem["errors"])


def test_cors_is_off_by_default(app_client) -> None:
    client, _ = app_client
    response = client.get("/schemes", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/init", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_exactly_the_configured_origins(tmp_path) -> None:
    settings = Settings(cors_origins="https://lab.example, https://notebook.example", job_dir=str(tmp_path))
    with TestClient(create_app(settings)) as client:
        allowed = client.options(
            "/init",
            headers={"Origin": "https://lab.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type"},
        )  # fmt: skip
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://lab.example"
        simple = client.post("/init", json={"seed": 0, "shape": [2], "scheme": "zeros"},
                             headers={"Origin": "https://notebook.example"})  # fmt: skip
        assert simple.headers["access-control-allow-origin"] == "https://notebook.example"
        assert "repr-digest" in simple.headers["access-control-expose-headers"].lower()
        other = client.get("/schemes", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
