"""Real server processes for the end-to-end tests: ``python -m service serve`` on a free loopback
port, started the way the README and the Dockerfile do, polled until ready, stopped in teardown.

    server = start("A", tmp_path, env={"INITW_WORKERS": "2"})
    wait_ready(server)          # server.client: an httpx.Client on server.url
    ...
    stop(server)                # SIGTERM, then SIGKILL after STOP_GRACE seconds

    with serving("A", tmp_path) as server:   # the same three steps, for a fixture
        ...
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_DEADLINE = 120.0  # seconds for a server to answer GET /readyz with 200: a hang guard, loaded machines included
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    client: httpx.Client = field(init=False)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-8000:]

    def died(self) -> str:
        return f"server {self.name} exited with {self.proc.returncode}; its stderr:\n{self.stderr()}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(name: str, directory: Path, hash_seed: str = "0", env: Mapping[str, str] | None = None) -> Server:
    """``python -m service serve`` on a free loopback port with no INITW_* from the caller's
    environment: only the embedded defaults and ``env``."""
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("INITW_")}
    environment["PYTHONHASHSEED"] = hash_seed
    environment.update(env or {})
    log = directory / f"{name}.stderr"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    return Server(name, proc, f"http://127.0.0.1:{port}", log)


def wait_ready(server: Server) -> None:
    """Poll GET /readyz until it answers 200; fail with the server's stderr if it exits or the deadline passes."""
    deadline = time.monotonic() + READY_DEADLINE
    with httpx.Client(base_url=server.url, timeout=5.0) as probe:
        while True:
            if server.proc.poll() is not None:
                pytest.fail(f"before it was ready: {server.died()}")
            try:
                if probe.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server {server.name} not ready after {READY_DEADLINE:.0f} s; stderr:\n{server.stderr()}")
            time.sleep(0.05)  # the polling interval, not a wait for anything in particular
    server.client = httpx.Client(base_url=server.url, timeout=30.0)


def stop(server: Server) -> bool:
    """Terminate (then kill) the process; True if it was still running."""
    client = getattr(server, "client", None)
    if client is not None:
        client.close()
    running = server.proc.poll() is None
    if running:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
    return running


@contextmanager
def serving(name: str, directory: Path, env: Mapping[str, str] | None = None) -> Iterator[Server]:
    """A ready server for the duration of the block, stopped afterwards whatever happens."""
    server = start(name, directory, env=env)
    try:
        wait_ready(server)
        yield server
    finally:
        stop(server)
