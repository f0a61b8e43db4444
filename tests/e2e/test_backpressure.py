"""Backpressure on a real server: eight concurrent 512 MiB requests against a 1 GiB memory budget.

Each request reserves its upper-bound working set before generating (streamed: one piece, about
136 MiB); seven fit, the eighth waits INITW_QUEUE_SECONDS and gets 503 + Retry-After. Nothing
crashes, every 200 is whole and correct, the process's peak resident memory stays under its idle
size plus the budget (the stated overhead is the idle process: interpreter, numpy, caches), and a
client that goes away mid-stream, or stops reading, gives its reservation back.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .servers import Server, serving

MIB = 1 << 20
BUDGET = 1 << 30
HUGE = 128 << 20  # float32 elements: a 512 MiB file
CONCURRENT = 8


def resident(pid: int, field: str) -> int:
    """VmRSS or VmHWM (peak) of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} not in /proc/{pid}/status")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("backpressure")
    env = {
        "INITW_MEMORY_BUDGET_BYTES": str(BUDGET),
        "INITW_QUEUE_SECONDS": "0.5",
        "INITW_SEND_SECONDS": "2",
        "INITW_JOB_DIR": str(directory / "jobs"),
    }
    with serving("budget", directory, env=env) as server:
        yield server


def budget_of(server: Server) -> dict[str, int]:
    return server.client.get("/readyz").json()["memory_budget"]


async def fetch(client: httpx.AsyncClient, seed: int) -> tuple[int, dict[str, str], int, str]:
    """POST one 512 MiB file, hashing it as it arrives: (status, headers, length, sha-256 base64)."""
    body = {"seed": seed, "shape": [HUGE], "scheme": "uniform"}
    async with client.stream("POST", "/init", json=body) as response:
        digest, length, first = hashlib.sha256(), 0, b""
        async for chunk in response.aiter_bytes(4 * MIB):
            digest.update(chunk)
            length += len(chunk)
            first = first or chunk
        if response.status_code != 200:
            return response.status_code, dict(response.headers), length, first.decode()
        return 200, dict(response.headers), length, base64.b64encode(digest.digest()).decode()


def test_eight_concurrent_512_mib_requests_against_a_1_gib_budget(server: Server) -> None:
    idle = resident(server.proc.pid, "VmRSS")

    async def all_at_once() -> list[tuple[int, dict[str, str], int, str]]:
        limits = httpx.Limits(max_connections=CONCURRENT)
        async with httpx.AsyncClient(base_url=server.url, timeout=120.0, limits=limits) as client:
            return await asyncio.gather(*(fetch(client, seed) for seed in range(CONCURRENT)))

    started = time.monotonic()
    results = asyncio.run(all_at_once())
    elapsed = time.monotonic() - started

    assert server.proc.poll() is None, server.died()
    statuses = [status for status, *_ in results]
    assert set(statuses) <= {200, 503}, statuses
    assert 0 < statuses.count(503) < CONCURRENT, statuses  # load was shed, and work was still done
    for status, headers, length, payload in results:
        if status == 200:
            assert length == int(headers["content-length"]) > HUGE * 4
            assert headers["repr-digest"] == f"sha-256=:{payload}:"
        else:
            assert headers["content-type"] == "application/problem+json"
            assert int(headers["retry-after"]) >= 1
            assert "INITW_MEMORY_BUDGET_BYTES" in payload
    peak = resident(server.proc.pid, "VmHWM")
    budget = budget_of(server)
    print(
        f"\n{statuses.count(200)} served, {statuses.count(503)} refused in {elapsed:.1f} s; idle RSS "
        f"{idle / MIB:.0f} MiB, peak RSS {peak / MIB:.0f} MiB, most reserved {budget['peak'] / MIB:.0f} MiB "
        f"of {BUDGET / MIB:.0f} MiB"
    )
    assert budget["in_use"] == 0 and budget["refused"] >= statuses.count(503)
    assert budget["peak"] <= BUDGET
    assert peak <= idle + BUDGET
    # The server still answers, with the same bytes as before the load.
    again = server.client.post("/init", json={"seed": 1, "shape": [64, 64], "scheme": "orthogonal"})
    assert again.status_code == 200


def test_a_client_gone_mid_stream_gives_its_reservation_back(server: Server) -> None:
    body = {"seed": 99, "shape": [HUGE], "scheme": "normal"}
    with server.client.stream("POST", "/init", json=body) as response:
        assert response.status_code == 200
        next(response.iter_bytes())
        assert budget_of(server)["in_use"] > 0
    # Closing the stream closed the connection: the server's send fails and the request unwinds.
    deadline = time.monotonic() + 30
    while budget_of(server)["in_use"] and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the unwinding, which takes one piece's generation
    assert budget_of(server)["in_use"] == 0
    assert server.proc.poll() is None


def test_a_client_that_stops_reading_is_abandoned_after_send_seconds(server: Server) -> None:
    body = json.dumps({"seed": 7, "shape": [HUGE], "scheme": "uniform"}).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        head = (f"POST /init HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()  # fmt: skip
        sock.sendall(head + body)
        assert sock.recv(12) == b"HTTP/1.1 200"
        started = time.monotonic()
        deadline = started + 30
        while budget_of(server)["in_use"] and time.monotonic() < deadline:
            time.sleep(0.1)  # polling: the server gives up INITW_SEND_SECONDS after its last send
        released = time.monotonic() - started
        assert budget_of(server)["in_use"] == 0, "a stalled reader still holds its reservation"
        assert released >= 1.5  # not before the stall lasted INITW_SEND_SECONDS
    assert server.proc.poll() is None
    assert server.client.get("/healthz").status_code == 200
    print(f"\nstalled reader released after {released:.1f} s")
