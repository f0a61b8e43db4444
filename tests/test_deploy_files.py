"""The deployment files, checked without a cluster or a Docker engine: deploy/kubernetes.yaml runs the
Dockerfile's image as N non-root, read-only replicas with probes, resources and a shutdown sequence
consistent with the settings; deploy/nginx/'s template renders (the way the official nginx image
renders it) into the configuration tests/e2e/test_balancer.py runs for real.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # test-only dependency (PyYAML)

from service.settings import Settings

from .nginx_template import (
    MISSING_NGINX,
    TEMPLATE,
    defined_names,
    envsubst,
    nginx_executable,
    output_name,
    referenced,
    render,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = {name: field.default for name, field in Settings.model_fields.items()}


# ----------------------------------------------------------------------------- kubernetes.yaml


def documents() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text()) if doc]


def one(kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in documents() if doc["kind"] == kind]
    return found


def services() -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents() if doc["kind"] == "Service"}


def pod() -> dict[str, Any]:
    return one("Deployment")["spec"]["template"]["spec"]


def container() -> dict[str, Any]:
    (only,) = pod()["containers"]
    return only


def env() -> dict[str, str]:
    return {item["name"]: item["value"] for item in container().get("env", [])}


def setting(name: str) -> Any:
    """The value the pod runs with: its environment, else the embedded default."""
    raw = env().get(f"INITW_{name.upper()}")
    default = DEFAULTS[name]
    return default if raw is None else type(default)(raw)


def quantity(text: str | int) -> float:
    """A Kubernetes quantity (3Gi, 512Mi, 2, 500m) as a number (bytes, cores)."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "m": 1e-3}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text))
    assert match and match.group(2) in ("", *units), text
    return float(match.group(1)) * units.get(match.group(2), 1)


def test_kubernetes_has_a_deployment_and_services_for_its_pods() -> None:
    assert sorted(doc["kind"] for doc in documents()) == ["Deployment", "Service", "Service"]
    deployment = one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    ports = {port["name"]: port["containerPort"] for port in container()["ports"]}
    assert int(env()["INITW_PORT"]) in ports.values()
    assert env()["INITW_HOST"] == "0.0.0.0"
    for name, service in services().items():
        assert service["spec"]["selector"].items() <= labels.items(), name
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            assert (ports[target] if isinstance(target, str) else target) == int(env()["INITW_PORT"]), name
    # Jobs live in the pod that runs them: their clients stick to one pod for a finished job's lifetime.
    jobs = services()["initw-jobs"]["spec"]
    assert jobs["sessionAffinity"] == "ClientIP"
    assert jobs["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] >= setting("job_ttl_seconds")
    assert services()["initw"]["spec"].get("sessionAffinity", "None") == "None"


def test_kubernetes_runs_the_compose_image_and_its_command() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert container()["image"] == compose["services"]["initw"]["image"]
    assert "command" not in container() and "args" not in container()  # the image's CMD: python -m service serve
    for name in env():
        assert name.startswith("INITW_") and name.removeprefix("INITW_").lower() in DEFAULTS, name


def test_kubernetes_pod_is_non_root_with_a_read_only_root_and_an_empty_dir_tmp() -> None:
    security = pod()["securityContext"]
    assert security["runAsNonRoot"] is True
    dockerfile_user = re.findall(r"^USER\s+(\d+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)[-1]
    assert security["runAsUser"] == int(dockerfile_user) != 0
    own = container()["securityContext"]
    assert own["readOnlyRootFilesystem"] is True
    assert own["allowPrivilegeEscalation"] is False
    assert own["capabilities"]["drop"] == ["ALL"]
    volumes = {volume["name"]: volume for volume in pod()["volumes"]}
    (tmp,) = [mount for mount in container()["volumeMounts"] if mount["mountPath"] == "/tmp"]
    assert "emptyDir" in volumes[tmp["name"]]
    assert not setting("job_dir")  # the jobs' default directory, <tempdir>/initw-jobs, is on that volume


def test_kubernetes_probes_ask_readyz_and_healthz() -> None:
    ports = {port["name"] for port in container()["ports"]} | {port["containerPort"] for port in container()["ports"]}
    readiness, liveness = container()["readinessProbe"], container()["livenessProbe"]
    assert readiness["httpGet"]["path"] == "/readyz"  # 503 until warmed up
    assert liveness["httpGet"]["path"] == "/healthz"
    assert container()["startupProbe"]["httpGet"]["path"] == "/healthz"
    startup = container()["startupProbe"]
    for probe in (readiness, liveness, startup):
        assert probe["httpGet"]["port"] in ports
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 30  # liveness waits for the start
    # As tolerant as the Dockerfile's HEALTHCHECK (--timeout=5s --retries=3).
    assert liveness["timeoutSeconds"] >= 5 and liveness["failureThreshold"] >= 3


def test_kubernetes_shutdown_outlasts_the_pre_stop_sleep_and_the_grace_period() -> None:
    command = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep" and len(command) == 2
    sleep = float(command[1])
    assert sleep >= 5  # endpoints are removed from the Services before SIGTERM
    grace = setting("grace_seconds")
    assert grace == DEFAULTS["grace_seconds"] == 30
    # The kubelet's grace period counts from the start of preStop.
    assert pod()["terminationGracePeriodSeconds"] > sleep + grace


def test_kubernetes_resources_hold_the_memory_budget_of_every_worker() -> None:
    resources = container()["resources"]
    requests, limits = resources["requests"], resources["limits"]
    workers = setting("workers")
    budget = setting("memory_budget_bytes")
    assert workers >= 1 and budget == DEFAULTS["memory_budget_bytes"] == 1 << 30
    memory = quantity(limits["memory"])
    assert memory >= workers * budget + (256 << 20), "no room for the workers' own memory"
    assert memory <= workers * budget * 2, "far more than the budget admits"
    assert quantity(requests["memory"]) == memory  # never overcommitted, not evicted first
    assert quantity(requests["cpu"]) >= workers
    assert quantity(requests["cpu"]) <= quantity(limits["cpu"])


# ----------------------------------------------------------------------------- nginx template


def compose_nginx_environment() -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return {key: str(value) for key, value in compose["services"]["nginx"]["environment"].items()}


def image_environment() -> dict[str, str]:
    """What the nginx container's entrypoint sees: a few of the image's own variables and compose's."""
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME": "0123456789ab",
        "NGINX_VERSION": "1.27.5",
        "upstream_addr": "not an nginx variable",  # a lowercase decoy the filter must keep out
        **compose_nginx_environment(),
    }


def rendered_for_compose() -> str:
    return render(image_environment())


def directive(text: str, name: str) -> list[str]:
    """The arguments of every ``name ...;`` in ``text`` (comments dropped)."""
    code = re.sub(r"#[^\n]*", "", text)
    return [m.group(1).strip() for m in re.finditer(rf"(?:^|[;{{}}\s]){name}\s+([^;{{]*);", code)]


def block(text: str, header: str) -> str:
    """The body of the block that starts with ``header {`` (braces balanced, comments dropped)."""
    code = re.sub(r"#[^\n]*", "", text)
    start = code.index(header + " {") + len(header) + 2
    depth, i = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(code[i], 0)
        i += 1
    return code[start : i - 1]


def top_level(body: str) -> str:
    """``body`` without its nested blocks: the directives that apply at this level."""
    out, depth = [], 0
    for char in body:
        depth += char == "{"
        if depth == 0:
            out.append(char)
        depth -= char == "}"
    return "".join(out)


def test_template_variables_are_all_given_by_compose() -> None:
    used = referenced(TEMPLATE.read_text())
    assert used, "a template without variables"
    given = defined_names(image_environment())
    assert used <= given, f"compose does not set {sorted(used - given)}: the image would leave them as they are"
    assert all(name.startswith("NGINX_") for name in used)
    assert compose_nginx_environment()["NGINX_ENVSUBST_FILTER"] == "^NGINX_"
    assert output_name() == "/etc/nginx/conf.d/default.conf"  # replaces the image's welcome server


def test_rendering_keeps_nginx_variables_and_leaves_nothing_unset() -> None:
    text = rendered_for_compose()
    assert not referenced(text), "an environment variable left unsubstituted"
    for variable in ("$upstream_addr", "$upstream_cache_status", "$request_uri", "$http_accept", "$http_range"):
        assert variable in text, variable
    assert "not an nginx variable" not in text
    assert "server initw:8000 resolve max_fails=3 fail_timeout=10s;" in text


def test_python_rendering_is_the_image_entrypoint_rendering() -> None:
    """The image's 20-envsubst-on-templates.sh, its two lines verbatim, against the Python copy."""
    if shutil.which("envsubst") is None or shutil.which("awk") is None:
        pytest.fail("envsubst (gettext-base) or awk is not installed: run scripts/system-deps")
    script = (
        'filter="${NGINX_ENVSUBST_FILTER:-}"\n'
        "defined_envs=$(printf '${%s} ' $(awk \"END { for (name in ENVIRON) { print ( name ~ /${filter}/ ) ? name : "
        '\\"\\" } }" < /dev/null ))\n'
        'envsubst "$defined_envs" < "$1"\n'
    )
    environment = image_environment()
    result = subprocess.run(
        ["sh", "-c", script, "sh", str(TEMPLATE)], env=environment, capture_output=True, text=True, check=True
    )
    assert result.stdout == render(environment)
    # And with no filter at all, every defined variable counts, the lowercase decoy included.
    unfiltered = {**environment, "NGINX_ENVSUBST_FILTER": ""}
    result = subprocess.run(
        ["sh", "-c", script, "sh", str(TEMPLATE)], env=unfiltered, capture_output=True, text=True, check=True
    )
    assert result.stdout == envsubst(TEMPLATE.read_text(), unfiltered)
    assert "not an nginx variable" in result.stdout  # why compose sets the filter


def test_body_limit_and_problems_match_the_service() -> None:
    text = rendered_for_compose()
    server = block(text, "server")
    (limit,) = directive(server, "client_max_body_size")
    assert limit.endswith("m") and int(limit[:-1]) << 20 == DEFAULTS["max_body_bytes"]
    returns = {int(m.group(1)): m.group(2) for m in re.finditer(r"return (\d{3}) '(.*?)\\n';", text)}
    assert sorted(returns) == [413, 502, 504]
    for status, body in returns.items():
        problem = json.loads(body)
        assert problem["status"] == status and problem["type"].startswith("https://initw.dev/problems/")
    assert str(DEFAULTS["max_body_bytes"]) in json.loads(returns[413])["detail"]
    assert json.loads(returns[413])["type"].endswith("/body-too-large")  # the service's own kind
    assert re.search(r"default_type application/problem\+json;", text)
    assert not re.search(r"proxy_intercept_errors\s+on", text)  # the replicas' problems pass as they are


def test_failover_and_passive_health_checks() -> None:
    text = rendered_for_compose()
    for name in ("initw", "initw_jobs"):
        upstream = block(text, f"upstream {name}")
        servers = directive(upstream, "server")
        assert servers and all("max_fails=" in s and "fail_timeout=" in s for s in servers), servers
        assert directive(upstream, "zone"), "failure counts not shared by the worker processes"
    assert directive(block(text, "upstream initw_jobs"), "hash") == ["$binary_remote_addr consistent"]
    server = block(text, "server")
    (retry,) = directive(top_level(server), "proxy_next_upstream")
    assert {"error", "timeout", "http_502", "http_503"} <= set(retry.split())
    assert directive(block(server, "location ^~ /pretrain"), "proxy_next_upstream") == ["error timeout"]


def test_only_get_init_is_buffered_and_cached() -> None:
    text = rendered_for_compose()
    server = block(text, "server")
    assert directive(top_level(server), "proxy_buffering") == ["off"]  # server level: everything streams
    cached = block(server, "location @init_cached")
    assert directive(cached, "proxy_buffering") == ["on"]
    assert directive(cached, "proxy_cache") == ["initw_cache"]
    assert directive(cached, "proxy_max_temp_file_size") == ["0"]
    assert not directive(cached, "proxy_cache_valid")  # the replica's Cache-Control decides
    assert not directive(text, "proxy_ignore_headers")
    init = block(server, "location = /init")
    assert "error_page 418 = @init_cached" in init and "return 418" in init
    assert not directive(init, "proxy_cache")  # POST /init
    (key,) = directive(text, "proxy_cache_key")
    assert "$request_uri" in key and "$http_accept" in key and "$request_method" in key
    (path,) = directive(text, "proxy_cache_path")
    assert path.startswith(compose_nginx_environment()["NGINX_CACHE_DIR"] + " ")
    assert "use_temp_path=off" in path and "max_size=10g" in path


def test_cache_entry_size_limit() -> None:
    """Files of 10^9 bytes or more are not cached (the map on the upstream's Content-Length)."""
    text = rendered_for_compose()
    body = block(text, "map $upstream_http_content_length $initw_too_big_to_cache")
    rules = re.findall(r'"~(.*?)"\s+(\d);', body)
    assert directive(body, "default") == ["0"]

    def too_big(length: int) -> bool:
        return any(re.search(pattern, str(length)) and value == "1" for pattern, value in rules)

    assert not too_big(268_436_464)  # 256 MiB: cached
    assert not too_big(999_999_999)
    assert too_big(1_000_000_000)
    assert too_big(17_179_869_184 + 128)  # INITW_MAX_ELEMENTS float32: streamed uncached
    assert "$initw_too_big_to_cache" in directive(block(text, "location @init_cached"), "proxy_no_cache")[0]


def test_template_runs_in_nginx(tmp_path: Path) -> None:
    """`nginx -t` on the rendering with loopback replicas (the compose one needs Docker's DNS)."""
    nginx = nginx_executable()
    if nginx is None:
        pytest.fail(MISSING_NGINX)
    environment = {
        **image_environment(),
        "NGINX_LISTEN": "127.0.0.1:1",
        "NGINX_UPSTREAM_SERVERS": "server 127.0.0.1:2 max_fails=3 fail_timeout=10s;",
        "NGINX_RESOLVER": "127.0.0.1",
        "NGINX_CACHE_DIR": str(tmp_path / "cache"),
    }
    (tmp_path / "default.conf").write_text(render(environment))
    paths = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nevents {{}}\nhttp {{\n{paths}\n    include {tmp_path / 'default.conf'};\n}}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr + (tmp_path / "error.log").read_text(errors="replace")
