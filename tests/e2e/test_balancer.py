"""Scale-out for real: two ``python -m service serve`` replicas on loopback behind nginx, configured by
the very template docker compose uses (deploy/nginx/templates/default.conf.template), rendered the way
the official nginx image renders it (tests/nginx_template.py).

Shown: the balancer returns the same bytes as each replica directly and uses both (round robin);
GET /init is cached per URL and Accept, POST never; a replica killed with SIGKILL costs clients
nothing; a replica's 503 is retried elsewhere and, when every replica says 503, reaches the client
with its Retry-After and problem+json; a 256 MiB file streams through nginx with nginx's memory
staying at a few MiB; jobs stay on the replica that runs them.

nginx comes from the system (Debian's nginx package; scripts/system-deps installs it). Missing, these
tests fail and say so: nothing here installs anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import safetensors.numpy
import yaml

from ..nginx_template import MISSING_NGINX, nginx_executable, render
from .servers import ROOT, Server, free_port, start, stop, wait_ready

pytestmark = pytest.mark.slow  # nginx in front of real server processes
JSON = "application/json"
PROBLEM = "application/problem+json"
IMMUTABLE = "public, max-age=31536000, immutable"
NGINX_DEADLINE = 20.0  # seconds for nginx to listen
LARGE_SHAPE = [8192, 8192]  # float32: a 256 MiB file (uniform: about a second to make)
LARGE_BYTES = 8192 * 8192 * 4


# ----------------------------------------------------------------------------- nginx


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    """The system's nginx; missing, every test here fails naming scripts/system-deps, which installs it."""
    found = nginx_executable()
    if found is None:
        pytest.fail(MISSING_NGINX)
    return found


def compose_nginx() -> dict[str, str]:
    """docker-compose.yml's nginx environment: the filter and the replicas' server parameters."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return {key: str(value) for key, value in compose["services"]["nginx"]["environment"].items()}


def server_parameters() -> str:
    """Compose's parameters of a replica (max_fails, fail_timeout), without `resolve`: the addresses
    here are literal and nginx before 1.27.3 does not know it."""
    (line,) = re.findall(r"server\s+\S+\s+([^;]*);", compose_nginx()["NGINX_UPSTREAM_SERVERS"])
    parameters = [word for word in line.split() if word != "resolve"]
    assert any(p.startswith("max_fails=") for p in parameters) and any(
        p.startswith("fail_timeout=") for p in parameters
    )
    return " ".join(parameters)


def main_conf(prefix: Path, include: Path) -> str:
    """The official image's /etc/nginx/nginx.conf, with every path inside ``prefix``. Workers run as
    the current user: as root, nginx would otherwise switch them to nobody, who cannot enter tmp_path."""
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temp = "".join(
        f"    {kind}_temp_path {prefix / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 2;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} notice;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    default_type application/octet-stream;\n"
        f"    access_log {prefix / 'access.log'};\n"
        "    sendfile on;\n"
        "    keepalive_timeout 65;\n"
        f"{temp}"
        f"    include {include};\n"
        "}\n"
    )


@dataclass
class Balancer:
    proc: subprocess.Popen[bytes]
    url: str
    prefix: Path
    client: httpx.Client

    def errors(self) -> str:
        return (self.prefix / "error.log").read_text(errors="replace")[-6000:]

    def workers(self) -> list[int]:
        """nginx's worker processes: the children of the master that say so (not the cache manager, nor
        the cache loader, which exits when it has read the cache)."""
        workers = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                    command = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid and b"worker process" in command:
                    workers.append(int(entry.name))
        return workers


def start_nginx(
    nginx: str, prefix: Path, upstream_ports: list[int], edit: Callable[[str], str] = lambda text: text
) -> Balancer:
    """nginx in the foreground on a free loopback port, the template rendered with the replicas'
    ports; ``edit`` may change the rendered text (a smaller threshold to test a rule cheaply)."""
    prefix.mkdir(parents=True)
    port = free_port()
    parameters = server_parameters()
    environment = {
        **os.environ,
        **compose_nginx(),  # NGINX_ENVSUBST_FILTER included
        "NGINX_LISTEN": f"127.0.0.1:{port}",
        "NGINX_UPSTREAM_SERVERS": " ".join(f"server 127.0.0.1:{p} {parameters};" for p in upstream_ports),
        "NGINX_RESOLVER": "127.0.0.1",  # unused: every address is literal
        "NGINX_CACHE_DIR": str(prefix / "cache"),
        "NGINX_CACHE_MAX_SIZE": "2g",
    }
    conf_d = prefix / "conf.d"
    conf_d.mkdir()
    (conf_d / "default.conf").write_text(edit(render(environment)))
    (prefix / "nginx.conf").write_text(main_conf(prefix, conf_d / "default.conf"))
    command = [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
    checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr + (prefix / "error.log").read_text(errors="replace")
    with (prefix / "stderr").open("wb") as stderr:
        proc = subprocess.Popen(
            [*command, "-g", "daemon off;"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group: teardown reaches the workers too
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + NGINX_DEADLINE
    while True:
        if proc.poll() is not None:
            pytest.fail(f"nginx exited with {proc.returncode}: {(prefix / 'error.log').read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                stop_nginx_process(proc)
                pytest.fail(f"nginx not listening after {NGINX_DEADLINE:.0f} s")
            time.sleep(0.02)  # the polling interval
    return Balancer(proc, url, prefix, httpx.Client(base_url=url, timeout=60.0))


def stop_nginx_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (nginx's fast shutdown: the master stops its workers), then SIGKILL to the group."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group of this nginx only (start_new_session)
    except ProcessLookupError:
        pass
    proc.wait()


def stop_nginx(balancer: Balancer) -> None:
    balancer.client.close()
    stop_nginx_process(balancer.proc)


# ----------------------------------------------------------------------------- the cluster


def replica(name: str, directory: Path) -> Server:
    """``python -m service serve`` on a free loopback port, its jobs in its own directory (as in its own
    container); started, not yet waited for."""
    return start(name, directory, env={"INITW_JOB_DIR": str(directory / f"jobs-{name}"), "INITW_WORKERS": "1"})


@dataclass
class Cluster:
    replicas: list[Server]
    nginx: Balancer

    def by_address(self) -> dict[str, Server]:
        return {f"127.0.0.1:{server.port}": server for server in self.replicas}


@pytest.fixture(scope="module")
def cluster(nginx_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("balancer")
    replicas: list[Server] = []
    balancer = None
    try:
        replicas = [replica("A", directory), replica("B", directory)]
        for server in replicas:
            wait_ready(server)
        balancer = start_nginx(nginx_binary, directory / "nginx", [server.port for server in replicas])
        yield Cluster(replicas, balancer)
    finally:
        if balancer is not None:
            stop_nginx(balancer)
        for server in replicas:
            stop(server)


def sha256_header(digest: bytes) -> str:
    return f"sha-256=:{base64.b64encode(digest).decode()}:"


def post_body(seed: int, shape: list[int] | None = None) -> dict[str, Any]:
    return {"seed": seed, "shape": shape or [48, 16], "scheme": {"name": "kaiming_uniform", "mode": "fan_out"}}


def get_params(seed: int) -> dict[str, str]:
    return {"shape": "48,16", "scheme": "xavier_normal", "seed": str(seed)}


# ----------------------------------------------------------------------------- (a) same bytes, both replicas


def test_same_bytes_through_nginx_as_from_each_replica_and_both_serve(cluster: Cluster) -> None:
    addresses = cluster.by_address()
    seen: set[str] = set()
    for seed in range(4):
        direct = [server.client.post("/init", json=post_body(seed)) for server in cluster.replicas]
        through = cluster.nginx.client.post("/init", json=post_body(seed))
        assert through.status_code == 200, through.text
        assert {r.content for r in direct} == {through.content}
        for header in ("etag", "repr-digest", "content-length", "cache-control"):
            assert {r.headers[header] for r in direct} == {through.headers[header]}, header
        assert through.headers["repr-digest"] == sha256_header(hashlib.sha256(through.content).digest())
        assert through.headers["x-upstream"] in addresses
        seen.add(through.headers["x-upstream"])
    for seed in range(4):  # distinct URLs: every one a miss, so a replica answers
        direct = [server.client.get("/init", params=get_params(seed)) for server in cluster.replicas]
        through = cluster.nginx.client.get("/init", params=get_params(seed))
        assert through.status_code == 200, through.text
        assert through.headers["x-cache-status"] == "MISS"
        assert {r.content for r in direct} == {through.content}
        assert {r.headers["etag"] for r in direct} == {through.headers["etag"]}
        assert through.headers["cache-control"] == IMMUTABLE
        seen.add(through.headers["x-upstream"])
    assert seen == set(addresses), f"round robin used only {seen}"


# ----------------------------------------------------------------------------- (b) the cache


def test_get_init_is_cached_per_url_and_accept(cluster: Cluster) -> None:
    client = cluster.nginx.client
    params = {"shape": "256,64", "scheme": "orthogonal", "seed": "21"}
    first = client.get("/init", params=params)
    assert first.status_code == 200 and first.headers["x-cache-status"] == "MISS"
    started = time.perf_counter()
    again = client.get("/init", params=params)
    hit_ms = (time.perf_counter() - started) * 1000
    assert again.headers["x-cache-status"] == "HIT", again.headers
    assert "x-upstream" not in again.headers  # no replica was asked
    assert again.content == first.content
    for header in ("etag", "repr-digest", "content-length", "cache-control", "vary", "content-type"):
        assert again.headers[header] == first.headers[header], header
    print(f"\ncache: 256x64 orthogonal miss then hit; hit in {hit_ms:.1f} ms")

    # Another Accept is another entry: the JSON description, from a replica, then from the cache.
    described = client.get("/init", params=params, headers={"Accept": JSON})
    assert described.headers["x-cache-status"] == "MISS" and described.headers["content-type"] == JSON
    assert described.headers["etag"] != first.headers["etag"]
    assert client.get("/init", params=params, headers={"Accept": JSON}).headers["x-cache-status"] == "HIT"
    assert client.get("/init", params=params).content == first.content  # the binary entry is unchanged

    # HEAD has entries of its own (nginx does not fetch the file to answer it); conditional GETs and
    # ranges: 304 from the cache, 206 from a replica (never stored).
    heads = [client.head("/init", params=params) for _ in range(2)]
    assert [h.headers["x-cache-status"] for h in heads] == ["MISS", "HIT"]
    assert heads[1].headers["content-length"] == first.headers["content-length"] and not heads[1].content
    not_modified = client.get("/init", params=params, headers={"If-None-Match": first.headers["etag"]})
    assert not_modified.status_code == 304 and not_modified.headers["x-cache-status"] == "HIT"
    for _ in range(2):
        part = client.get("/init", params=params, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.headers["x-cache-status"] == "BYPASS"
        assert part.content == first.content[100:200]

    # POST is never cached: a replica answers every time (and both, in turn).
    upstreams = set()
    for _ in range(4):
        posted = client.post("/init", json=post_body(99))
        assert posted.status_code == 200 and "x-cache-status" not in posted.headers
        upstreams.add(posted.headers["x-upstream"])
    assert upstreams == set(cluster.by_address())

    # Problems pass as they are and are not stored (no Cache-Control).
    for _ in range(2):
        problem = client.get("/init", params={"shape": "x", "scheme": "uniform"})
        assert problem.status_code == 422 and problem.headers["content-type"] == PROBLEM
        assert problem.headers["x-cache-status"] == "MISS"
        assert problem.json()["status"] == 422


def test_nginx_refuses_bodies_over_the_limit_with_a_problem(cluster: Cluster) -> None:
    """Beyond INITW_MAX_BODY_BYTES nginx answers 413 itself, from the headers, in the service's format."""
    port = int(cluster.nginx.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /init HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {(64 << 20) + 1}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert b"content-type: application/problem+json" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 413 and problem["type"] == "https://initw.dev/problems/body-too-large"


# ----------------------------------------------------------------------------- (d) large bodies stream


class PeakRss:
    """The largest resident set of nginx's workers during a transfer: the kernel's high-water mark
    (VmHWM), reset when the transfer starts. Nothing is sampled, so no peak is missed however busy
    the machine is."""

    def __init__(self, balancer: Balancer) -> None:
        self.pids = balancer.workers()
        assert self.pids, "no nginx worker found"
        self.before = self.peak = 0

    def largest(self, field: str) -> int:
        """The largest ``field`` (VmRSS, VmHWM) of the workers, in bytes."""
        largest = 0
        for pid in self.pids:
            status = Path(f"/proc/{pid}/status").read_text()
            match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
            assert match, f"no {field} in /proc/{pid}/status"
            largest = max(largest, int(match.group(1)) * 1024)
        return largest

    def __enter__(self) -> PeakRss:
        for pid in self.pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # proc(5): resets VmHWM to the current VmRSS
        self.before = self.largest("VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = self.largest("VmHWM")


@dataclass
class Received:
    headers: httpx.Headers
    size: int
    digest: bytes
    first_byte: float  # seconds from the request to the first body byte
    total: float


def download(client: httpx.Client, method: str, url: str, **options: Any) -> Received:
    """Stream a response into SHA-256 without keeping it."""
    started = time.perf_counter()
    first = None
    hasher, size = hashlib.sha256(), 0
    with client.stream(method, url, **options) as response:
        assert response.status_code == 200, response.read()[:2000]
        for chunk in response.iter_raw(1 << 20):
            if first is None:
                first = time.perf_counter() - started
            hasher.update(chunk)
            size += len(chunk)
        headers = response.headers
    return Received(headers, size, hasher.digest(), first or 0.0, time.perf_counter() - started)


def spooled(directory: Path) -> int:
    """Bytes nginx holds in files below ``directory``."""
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def check_large(received: Received) -> None:
    assert received.size == int(received.headers["content-length"]) > LARGE_BYTES
    assert received.headers["repr-digest"] == sha256_header(received.digest)


def test_a_256_mib_file_streams_through_nginx_in_bounded_memory(cluster: Cluster) -> None:
    balancer = cluster.nginx
    mib = 1 << 20

    # POST /init: unbuffered, nothing in nginx's temporary files.
    body = {"seed": 5, "shape": LARGE_SHAPE, "scheme": "uniform"}
    with PeakRss(balancer) as posted_rss:
        posted = download(balancer.client, "POST", "/init", json=body)
    check_large(posted)
    assert "x-cache-status" not in posted.headers
    assert spooled(balancer.prefix / "proxy") == 0
    assert posted_rss.peak < 32 * mib, f"nginx held {posted_rss.peak / mib:.0f} MiB for a 256 MiB POST"

    # GET /init, a miss: written to the cache file while it is sent, never held in memory.
    params = {"shape": ",".join(map(str, LARGE_SHAPE)), "scheme": "uniform", "seed": "5"}
    with PeakRss(balancer) as miss_rss:
        miss = download(balancer.client, "GET", "/init", params=params)
    check_large(miss)
    assert miss.headers["x-cache-status"] == "MISS" and miss.digest == posted.digest
    assert miss_rss.peak < 32 * mib, f"nginx held {miss_rss.peak / mib:.0f} MiB for a 256 MiB GET"
    assert spooled(balancer.prefix / "cache") >= LARGE_BYTES

    # ... and a hit from that file.
    with PeakRss(balancer) as hit_rss:
        hit = download(balancer.client, "GET", "/init", params=params)
    check_large(hit)
    assert hit.headers["x-cache-status"] == "HIT" and hit.digest == posted.digest
    assert hit_rss.peak < 32 * mib
    print(
        f"\n256 MiB through nginx: POST {posted.total:.2f} s (first byte {posted.first_byte:.2f} s), "
        f"GET miss {miss.total:.2f} s (first byte {miss.first_byte:.2f} s), GET hit {hit.total:.2f} s; "
        f"nginx worker peak RSS {posted_rss.before / mib:.1f} MiB before, {posted_rss.peak / mib:.1f} (POST), "
        f"{miss_rss.peak / mib:.1f} (GET miss), {hit_rss.peak / mib:.1f} (GET hit) MiB"
    )


def test_files_of_a_billion_bytes_or_more_are_not_cached(cluster: Cluster, nginx_binary: str, tmp_path: Path) -> None:
    """The template's rule (10 digits of Content-Length or more: no cache entry), checked with the
    threshold lowered to 7 digits so that a 4 MiB file crosses it."""
    rule = '"~^[0-9]{10,}$"'

    def lower(text: str) -> str:
        assert rule in text
        return text.replace(rule, '"~^[0-9]{7,}$"')

    balancer = start_nginx(nginx_binary, tmp_path / "nginx", [s.port for s in cluster.replicas], edit=lower)
    try:
        big = {"shape": "1024,1024", "scheme": "uniform", "seed": "8"}  # 4,194,304 bytes and a header
        small = {"shape": "100,100", "scheme": "uniform", "seed": "8"}
        assert [balancer.client.get("/init", params=big).headers["x-cache-status"] for _ in range(2)] == ["MISS"] * 2
        assert spooled(balancer.prefix / "proxy") == 0  # passed through the buffers, not spooled to disk
        assert [balancer.client.get("/init", params=small).headers["x-cache-status"] for _ in range(2)] == [
            "MISS",
            "HIT",
        ]
    finally:
        stop_nginx(balancer)


# ----------------------------------------------------------------------------- jobs


def test_jobs_stay_on_the_replica_that_runs_them(cluster: Cluster) -> None:
    data = np.linspace(-1.0, 1.0, 16 * 4, dtype=np.float32).reshape(16, 4)
    encoded = base64.b64encode(safetensors.numpy.save({"data": data})).decode()
    body = {"seed": 3, "input_width": 4, "layers": [{"width": 3}], "data": encoded, "epochs": 1}
    created = cluster.nginx.client.post("/pretrain", json=body)
    assert created.status_code in (200, 202), created.text
    location = created.headers["location"]
    owners = [server for server in cluster.replicas if server.client.get(location).status_code == 200]
    assert len(owners) == 1, "a job is known to the replica that runs it only"
    for _ in range(6):  # round robin would reach the other replica every second time
        state = cluster.nginx.client.get(location)
        assert state.status_code == 200, state.text
        assert state.headers["x-upstream"] == f"127.0.0.1:{owners[0].port}"


# ----------------------------------------------------------------------------- (c) failover


class Overloaded(BaseHTTPRequestHandler):
    """A replica out of capacity: 503, Retry-After and a problem, to every request."""

    protocol_version = "HTTP/1.1"
    hits = 0
    body = json.dumps(
        {"type": "https://initw.dev/problems/busy", "title": "Service Unavailable", "status": 503, "detail": "full"}
    ).encode()

    def answer(self) -> None:
        type(self).hits += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(503)
        self.send_header("Retry-After", "7")
        self.send_header("Content-Type", PROBLEM)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = do_HEAD = answer  # noqa: N815 (http.server's naming)

    def log_message(self, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # nginx closing its idle keep-alive connections at shutdown is not an error


@pytest.fixture
def overloaded() -> Iterator[list[tuple[ThreadingHTTPServer, type[Overloaded]]]]:
    stubs = []
    for _ in range(2):
        handler = type("Handler", (Overloaded,), {"hits": 0})
        server = QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stubs.append((server, handler))
    try:
        yield stubs
    finally:
        for server, _ in stubs:
            server.shutdown()
            server.server_close()


def test_a_503_is_retried_on_another_replica_and_passed_through_when_all_say_it(
    cluster: Cluster, overloaded: list[tuple[ThreadingHTTPServer, type[Overloaded]]], nginx_binary: str, tmp_path: Path
) -> None:
    (stub, handler), (other_stub, other_handler) = overloaded
    stub_port, other_port = stub.server_address[1], other_stub.server_address[1]
    alive = cluster.replicas[0]
    mixed = start_nginx(nginx_binary, tmp_path / "mixed", [stub_port, alive.port])
    try:
        for seed in range(4):
            answer = mixed.client.post("/init", json=post_body(seed))
            assert (
                answer.status_code == 200 and answer.content == alive.client.post("/init", json=post_body(seed)).content
            )
            answer = mixed.client.get("/init", params=get_params(100 + seed))
            assert answer.status_code == 200
        assert handler.hits >= 1, "round robin never tried the overloaded replica"
    finally:
        stop_nginx(mixed)

    full = start_nginx(nginx_binary, tmp_path / "full", [stub_port, other_port])
    try:
        before = handler.hits + other_handler.hits
        answer = full.client.get("/init", params=get_params(7))
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "7" and answer.headers["content-type"] == PROBLEM
        assert answer.content == Overloaded.body
        assert answer.headers["x-cache-status"] == "MISS"
        assert handler.hits + other_handler.hits == before + 2  # both tried, the last answer passed on
        # Jobs are not moved to another replica by a 503: the job queue's Retry-After comes back.
        before = handler.hits + other_handler.hits
        answer = full.client.post("/pretrain", json={})
        assert answer.status_code == 503 and answer.headers["retry-after"] == "7"
        assert handler.hits + other_handler.hits == before + 1
    finally:
        stop_nginx(full)


def test_a_killed_replica_fails_over_without_a_failed_request(
    cluster: Cluster, nginx_binary: str, tmp_path: Path
) -> None:
    survivor = cluster.replicas[0]
    match = re.search(r"max_fails=(\d+)", server_parameters())
    assert match
    max_fails = int(match.group(1))

    def stretched(text: str) -> str:
        """fail_timeout from compose's seconds to an hour: after max_fails failures the killed replica is
        out of the rotation for the whole test, however slowly the machine runs its requests."""
        assert re.search(r"fail_timeout=\d+s", text)
        return re.sub(r"fail_timeout=\d+s", "fail_timeout=3600s", text)

    doomed = replica("C", tmp_path)
    balancer = None
    try:
        wait_ready(doomed)
        balancer = start_nginx(nginx_binary, tmp_path / "nginx", [survivor.port, doomed.port], edit=stretched)
        doomed_address = f"127.0.0.1:{doomed.port}"
        upstreams = {balancer.client.post("/init", json=post_body(s)).headers["x-upstream"] for s in range(4)}
        assert doomed_address in upstreams  # both serve before the kill

        doomed.proc.send_signal(signal.SIGKILL)
        doomed.proc.wait()
        retried = 0
        for seed in range(12):
            posted = balancer.client.post("/init", json=post_body(200 + seed))
            got = balancer.client.get("/init", params=get_params(200 + seed))
            for answer in (posted, got):
                assert answer.status_code == 200, answer.text
                retried += doomed_address in answer.headers["x-upstream"]  # "dead, survivor": tried, then passed on
            assert posted.content == survivor.client.post("/init", json=post_body(200 + seed)).content
            assert got.content == survivor.client.get("/init", params=get_params(200 + seed)).content
        print(f"\nfailover: 24 requests after the kill, all 200; {retried} first tried the killed replica")
        assert retried >= 1, "no request was ever sent to the killed replica"
        assert retried <= max_fails, f"after {max_fails} failures the killed replica is out of the rotation"
        assert "connect() failed" in balancer.errors()
    finally:
        if balancer is not None:
            stop_nginx(balancer)
        stop(doomed)

    # No replica at all: nginx's own 502, as a problem.
    nobody = start_nginx(nginx_binary, tmp_path / "nobody", [doomed.port, free_port()])
    try:
        for answer in (
            nobody.client.get("/init", params=get_params(1)),
            nobody.client.post("/init", json=post_body(1)),
        ):
            assert answer.status_code == 502 and answer.headers["content-type"] == PROBLEM
            assert answer.json()["status"] == 502 and answer.headers["retry-after"] == "1"
    finally:
        stop_nginx(nobody)


def test_replicas_still_run(cluster: Cluster) -> None:
    for server in cluster.replicas:
        assert server.proc.poll() is None, server.died()
    assert cluster.nginx.proc.poll() is None, cluster.nginx.errors()
