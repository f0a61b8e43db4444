"""The container files, checked without a Docker engine: the Dockerfile and docker-compose.yml run the
README's command (``python -m service serve``) as a non-root user, install the project with pip from
its own pyproject.toml, and share one health check on /healthz that works with only the standard library.
docker-compose.yml runs several replicas of that image behind nginx (deploy/nginx/, tested for real in
tests/e2e/test_balancer.py), which alone publishes port 8000.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml  # test-only dependency (PyYAML)

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SERVE = ["python", "-m", "service", "serve"]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, rest = text.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return out


def all_of(keyword: str) -> list[str]:
    return [rest for kw, rest in instructions() if kw == keyword]


def exec_form(text: str) -> list[str]:
    value = json.loads(text)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
    return value


def env_of_dockerfile() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in all_of("ENV"):
        for item in shlex.split(rest):
            key, sep, value = item.partition("=")
            assert sep, f"use ENV KEY=value, not {rest!r}"
            env[key] = value
    return env


def healthcheck_of_dockerfile() -> tuple[dict[str, str], list[str]]:
    """The HEALTHCHECK's options (--interval=30s ...) and its exec-form command."""
    (rest,) = all_of("HEALTHCHECK")
    options, _, command = rest.partition("CMD ")
    flags = dict(flag.removeprefix("--").split("=", 1) for flag in options.split())
    return flags, exec_form(command.strip())


def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(document, dict)
    return document


def compose_service(name: str = "initw") -> dict[str, Any]:
    services = compose()["services"]
    assert sorted(services) == ["initw", "nginx"]
    return services[name]


def interpolated(value: Any) -> str:
    """A compose value with ``${VAR:-default}`` / ``${VAR-default}`` replaced by its default."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", str(value))


# ----------------------------------------------------------------------------- Dockerfile


def stages() -> list[tuple[str, list[tuple[str, str]]]]:
    """The Dockerfile's stages: (FROM arguments, the instructions that follow it)."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            out.append((rest, []))
        else:
            assert out, "an instruction before the first FROM"
            out[-1][1].append((keyword, rest))
    return out


def test_dockerfile_builds_on_python_311_and_runs_on_python_311_slim() -> None:
    (build_base, _), (run_base, _) = stages()
    assert re.fullmatch(r"python:3\.11(\.\d+)?(@sha256:[0-9a-f]{64})? AS build", build_base), build_base
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", run_base), run_base


def test_the_build_stage_makes_the_wheels_from_the_projects_own_files() -> None:
    (_, build), _ = stages()
    copies = [shlex.split(rest) for kw, rest in build if kw == "COPY"]
    destination = {Path(src).name or src.rstrip("/"): dest for *sources, dest in copies for src in sources}
    assert {"pyproject.toml", "setup.py", "service"} <= set(destination), copies  # setup.py builds the kernels
    project_dir = destination["pyproject.toml"].rstrip("/")
    assert destination["setup.py"].rstrip("/") == project_dir
    assert Path(destination["service"]) == Path(project_dir) / "service"
    (wheel,) = [rest for kw, rest in build if kw == "RUN" and "pip wheel" in rest]
    words = shlex.split(wheel.split("pip wheel", 1)[1])
    assert f"{project_dir}[server]" in words and "--wheel-dir" in words, words


def test_the_run_stage_installs_only_those_wheels_and_has_no_compiler() -> None:
    _, (_, run) = stages()
    (copy,) = [rest for kw, rest in run if kw == "COPY"]
    assert copy.startswith("--from=build /wheels "), copy
    wheels = copy.split()[-1]
    installs = [rest for kw, rest in run if kw == "RUN" and "pip install" in rest]
    assert len(installs) == 1, installs
    words = shlex.split(installs[0].split("pip install", 1)[1].split("&&")[0])
    assert {"--no-cache-dir", "--no-index"} <= set(words) and words[words.index("--find-links") + 1] == wheels
    assert [w for w in words if not w.startswith("-") and w != wheels] == ["initw[server]"]
    assert f"rm -rf {wheels}" in installs[0]
    everything = " ".join(rest for kw, rest in run)
    assert not re.search(r"\b(apt-get|apk|gcc|cc|build-essential)\b", everything), "a compiler in the run image"


def test_dockerfile_cmd_is_the_readme_serve_command() -> None:
    (cmd,) = all_of("CMD")
    assert exec_form(cmd) == SERVE
    assert not all_of("ENTRYPOINT")  # nothing wraps the command


def test_dockerfile_runs_as_non_root() -> None:
    keywords = [kw for kw, _ in instructions()]
    users = all_of("USER")
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users[-1]
    assert max(i for i, kw in enumerate(keywords) if kw == "USER") < keywords.index("CMD")
    created = " ".join(all_of("RUN"))
    assert re.search(rf"useradd\b[^&;]*(--uid {user}\b|\b{user}\s*($|&&|;))", created), "USER is not created by a RUN"


def test_dockerfile_environment_port_and_read_only_root() -> None:
    env = env_of_dockerfile()
    assert env["INITW_HOST"] == "0.0.0.0"
    assert "INITW_WORKERS" not in env  # workers come from the run-time environment
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"  # nothing written at run time
    assert all_of("EXPOSE") == ["8000"]
    assert not all_of("VOLUME")
    for key in env:
        if key.startswith("INITW_"):
            assert key.removeprefix("INITW_").lower() in Settings.model_fields, key


def test_dockerfile_healthcheck_asks_healthz_with_python() -> None:
    flags, command = healthcheck_of_dockerfile()
    assert command[:2] == ["python", "-c"] and len(command) == 3
    assert "/healthz" in command[2]
    assert set(flags) <= {"interval", "timeout", "start-period", "start-interval", "retries"}
    ast.parse(command[2])


# ----------------------------------------------------------------------------- docker-compose.yml


def test_compose_builds_the_dockerfile_into_several_replicas() -> None:
    service = compose_service()
    build = service["build"]
    context, dockerfile = (build, "Dockerfile") if isinstance(build, str) else (build["context"], build["dockerfile"])
    assert (ROOT / context / dockerfile).resolve() == (ROOT / "Dockerfile").resolve()
    # Replicas cannot share a host port: nginx publishes 8000, each replica only exposes it.
    assert "ports" not in service
    assert [str(port) for port in service["expose"]] == ["8000"]
    assert int(interpolated(service["deploy"]["replicas"])) >= 2
    assert "container_name" not in service  # a fixed name would allow only one replica
    assert service["read_only"] is True
    assert service["tmpfs"] == ["/tmp"]  # the only writable place: tempfile and INITW_JOB_DIR's default
    assert service["restart"] == "unless-stopped"
    assert "command" not in service and "entrypoint" not in service  # the image's CMD: python -m service serve
    assert "user" not in service  # the image's non-root USER


def test_compose_nginx_publishes_8000_and_renders_the_deploy_template() -> None:
    nginx = compose_service("nginx")
    image = nginx["image"]
    assert re.fullmatch(r"nginx:1\.(2[7-9]|[3-9]\d)(\.\d+)?(-alpine)?", image), image  # `resolve` needs >= 1.27.3
    assert nginx["ports"] == ["8000:8000"]
    assert "build" not in nginx and "command" not in nginx  # the official image's entrypoint renders templates
    assert nginx["depends_on"]["initw"]["condition"] == "service_healthy"
    mounts = {target: source for source, target, *_ in (volume.split(":") for volume in nginx["volumes"])}
    templates = mounts["/etc/nginx/templates"]
    assert (ROOT / templates).resolve() == (ROOT / "deploy" / "nginx" / "templates").resolve()
    assert list((ROOT / templates).glob("*.template")), "nothing for the image to render"
    environment = nginx["environment"]
    assert environment["NGINX_LISTEN"] == "8000"
    assert "initw:8000" in environment["NGINX_UPSTREAM_SERVERS"]  # the compose service name: every replica
    cache = environment["NGINX_CACHE_DIR"]
    assert any(cache == target or cache.startswith(target + "/") for target in mounts), "cache not on a volume"
    for key, value in environment.items():
        assert "$" not in str(value), key  # compose would interpolate it
    check = nginx["healthcheck"]["test"]
    assert check[0] == "CMD" and any("/readyz" in word for word in check)


def test_compose_stops_gracefully() -> None:
    grace = Settings.model_fields["grace_seconds"].default
    for name in ("initw", "nginx"):
        period = compose_service(name)["stop_grace_period"]
        assert int(period.removesuffix("s")) > grace, name  # in-flight responses finish before SIGKILL


def test_compose_environment_is_settings_with_their_defaults() -> None:
    environment = compose_service()["environment"]
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    assert environment["INITW_WORKERS"] == "1"  # one per container: replicas scale, drains refuse at once
    fields = Settings.model_fields
    for key, value in environment.items():
        assert key.startswith("INITW_"), key
        name = key.removeprefix("INITW_").lower()
        assert name in fields, f"{key} is not a setting"
        if name not in ("host", "workers"):
            assert str(value) == str(fields[name].default), key
    assert {f"INITW_{name.upper()}" for name in fields} <= set(environment), "a setting is missing"


def test_compose_healthcheck_mirrors_the_dockerfile() -> None:
    flags, command = healthcheck_of_dockerfile()
    check = compose_service()["healthcheck"]
    assert check["test"] == ["CMD", *command]
    assert "/healthz" in check["test"][-1]
    for flag in ("interval", "timeout", "start-period", "retries"):
        if flag in flags:
            assert str(check[flag.replace("-", "_")]) == flags[flag], flag
    assert "$" not in command[-1]  # compose would interpolate it


# ----------------------------------------------------------------------------- the health check itself


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        code = self.status if self.path == "/healthz" else 404
        body = b'{"status":"ok"}'
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Health,), {}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_healthcheck(port: int) -> int:
    _, command = healthcheck_of_dockerfile()
    argv = [sys.executable, *command[1:]]  # "python" in the image is this interpreter here
    env = {"INITW_PORT": str(port), "PATH": "/usr/bin:/bin"}
    return subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode


def test_healthcheck_passes_on_200_and_fails_otherwise(health_server: ThreadingHTTPServer) -> None:
    port = health_server.server_address[1]
    assert run_healthcheck(port) == 0
    health_server.RequestHandlerClass.status = 503  # type: ignore[attr-defined]
    assert run_healthcheck(port) != 0
    health_server.shutdown()
    health_server.server_close()
    assert run_healthcheck(port) != 0  # nothing listening


# ----------------------------------------------------------------------------- README and packaging


def test_ci_runs_exactly_the_readme_test_command() -> None:
    """The README's one line that sets up and runs lint and the tests is .ci/run's last line."""
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1].strip()
    assert command.endswith("python -m pytest") and "scripts/system-deps" in command and "scripts/lint" in command
    assert f"\n$ {command}\n" in (ROOT / "README.md").read_text()


def test_readme_documents_the_same_serve_command() -> None:
    """The image's install and command, from the repository root: editable, so that the source tree
    that `python -m service` imports there holds the compiled kernels the install built."""
    readme = (ROOT / "README.md").read_text()
    assert " ".join(SERVE) in readme
    assert 'python -m pip install -e ".[server]" && ' + " ".join(SERVE) in readme


def _optional(tree: ast.AST) -> set[int]:
    """ids of the import nodes guarded by ``try: ... except ImportError`` (optional extras)."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers
        ):
            guarded.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return guarded


# Modules of service/ that are integrations the image never imports, each with the extra that
# installs what it needs (the last test of this module checks the extra declares it).
EXTRA_MODULES = {"torch.py": "torch"}


def _third_party_imports() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "service").rglob("*.py"):
        if str(path.relative_to(ROOT / "service")) in EXTRA_MODULES:
            continue
        tree = ast.parse(path.read_text(), str(path))
        optional = _optional(tree)
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and name != "service"}


def _requirement_name(text: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", text.strip())
    assert match, text
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def test_pip_install_of_the_project_brings_everything_service_imports() -> None:
    """The image runs only what `pip install ".[server]"` installs: every import of service/ must come
    from a declared dependency, the server extra, or one of theirs (their extras excluded)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["server"]
    closure: set[str] = set()
    todo = [_requirement_name(r) for r in declared]
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo += [_requirement_name(r) for r in requires if "extra ==" not in r and "extra==" not in r]
    providers = importlib.metadata.packages_distributions()
    missing = {}
    for module in _third_party_imports():
        distributions = {_requirement_name(d) for d in providers.get(module, [module])}
        if not distributions & closure:
            missing[module] = sorted(distributions)
    assert not missing, f"service/ imports these, pyproject.toml does not install them: {missing}"


def test_an_integration_module_outside_the_image_has_an_extra_that_installs_its_imports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for module, extra in EXTRA_MODULES.items():
        declared = {_requirement_name(r) for r in project["optional-dependencies"][extra]}
        tree = ast.parse((ROOT / "service" / module).read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names} - set(sys.stdlib_module_names) - {"service"}  # fmt: skip
        assert "torch" in imported and imported - {"numpy", "httpx"} <= declared, (module, imported, declared)
