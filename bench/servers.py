"""Servers as real processes on free loopback ports, always stopped (terminate, then kill) even on errors.

    with ours(workers=2) as server: ...                       # python -m service serve
    with minimal(body_bytes=263232, workers=2) as server: ... # bench/minimal_app.py, same uvicorn options
    with ours_uvicorn(loop="asyncio", http="h11") as server: ...

Each server runs in its own session (process group), so uvicorn's worker processes go with it.
Its output goes to a temporary log file, whose tail explains a server that never became ready.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READY_DEADLINE = 90.0  # seconds: the service warms numpy up before /readyz answers 200
STOP_GRACE = 15.0  # seconds between SIGTERM and SIGKILL
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Server:
    name: str
    pid: int
    port: int
    env: tuple[tuple[str, str], ...] = ()  # the variables set for it on top of the inherited environment

    @property
    def env_text(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.env)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _status(port: int, path: str) -> int | None:
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server (uvicorn stops its workers), then SIGKILL its whole process group."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the group we created: stray workers, if any
    process.wait()


@contextlib.contextmanager
def running(name: str, command: list[str], port: int, ready_path: str, env: Mapping[str, str] | None = None):
    """Start ``command``, wait until GET ``ready_path`` answers 200, yield the Server, stop it."""
    log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + READY_DEADLINE
        while _status(port, ready_path) != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = Path(log.name).read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} did not become ready on port {port}:\n{tail}")
            time.sleep(0.2)
        yield Server(name, process.pid, port, tuple(sorted((env or {}).items())))
    finally:
        _stop(process)
        log.close()
        os.unlink(log.name)


def uvicorn_options(workers: int, loop: str = "auto", http: str = "auto") -> list[str]:
    return ["--workers", str(workers), "--loop", loop, "--http", http]


def ours(workers: int = 1, env: Mapping[str, str] | None = None):
    """The service as the README runs it: ``python -m service serve`` (uvicorn's defaults: loop and http auto)."""
    port = free_port()
    command = [sys.executable, "-m", "service", "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    return running(f"initw-w{workers}", command, port, "/readyz", env)


def ours_uvicorn(loop: str, http: str, workers: int = 2, env: Mapping[str, str] | None = None):
    """The service under ``python -m uvicorn`` with an explicit event loop and HTTP parser."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "service.app:app", "--host", HOST, "--port", str(port)]
    return running(f"initw-{loop}-{http}", command + uvicorn_options(workers, loop, http), port, "/readyz", env)


def minimal(body_bytes: int, workers: int = 2, loop: str = "auto", http: str = "auto"):
    """bench/minimal_app.py with the same uvicorn options as ours, answering ``body_bytes`` bytes."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.minimal_app:app", "--host", HOST, "--port", str(port)]
    env = {"BENCH_BODY_BYTES": str(body_bytes)}
    return running("minimal", command + uvicorn_options(workers, loop, http), port, "/body", env)


def peak_rss_bytes(pid: int) -> int:
    """VmHWM: the process's peak resident set size so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")
