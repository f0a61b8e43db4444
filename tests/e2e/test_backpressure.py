"""Backpressure on a real server: eight 512 MiB requests against a 1 GiB memory budget.

Each request reserves its upper-bound working set before generating (streamed: one piece, about
136 MiB) and keeps it until its response ends; seven fit, the eighth waits INITW_QUEUE_SECONDS and
gets 503 + Retry-After. Nothing crashes, every 200 is whole and correct, the process's peak
resident memory stays under its idle size plus the budget (the stated overhead is the idle
process: interpreter, numpy, caches), and a client that goes away mid-stream, or stops reading,
gives its reservation back.

Which requests are refused is arranged, not left to timing: the admitted ones are stalled readers
(their head and first bytes in, reading stopped), so they certainly hold their reservations while
the next request arrives. Every wait is for an event, under a deadline only a hang reaches.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from .servers import Server, serving

pytestmark = pytest.mark.slow  # real server processes and 512 MiB files
MIB = 1 << 20
BUDGET = 1 << 30
HUGE = 128 << 20  # float32 elements: a 512 MiB file
CONCURRENT = 8
QUEUE_SECONDS = 0.5
SEND_SECONDS = 2.0  # the impatient server's; the patient one waits 600 s for a stalled reader
HANG = 300.0  # seconds after which a step that must happen counts as hung (a loaded 2-core machine)


def resident(pid: int, field: str) -> int:
    """VmRSS or VmHWM (peak) of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def budget_server(name: str, directory: Path, send_seconds: float) -> Iterator[Server]:
    env = {
        "INITW_MEMORY_BUDGET_BYTES": str(BUDGET),
        "INITW_QUEUE_SECONDS": str(QUEUE_SECONDS),
        "INITW_SEND_SECONDS": str(send_seconds),
        "INITW_JOB_DIR": str(directory / "jobs"),
    }
    with serving(name, directory, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Holds a stalled reader's response for 600 s: the tests decide when reading resumes."""
    yield from budget_server("budget", tmp_path_factory.mktemp("backpressure"), 600.0)


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Abandons a response whose reader reads nothing for SEND_SECONDS."""
    yield from budget_server("impatient", tmp_path_factory.mktemp("impatient"), SEND_SECONDS)


def budget_of(server: Server) -> dict[str, int]:
    return server.client.get("/readyz").json()["memory_budget"]


def released(server: Server) -> bool:
    """Poll until nothing is reserved (a response's reservation goes back just after its last send)."""
    deadline = time.monotonic() + HANG
    while budget_of(server)["in_use"] and time.monotonic() < deadline:
        time.sleep(0.05)  # the polling interval
    return budget_of(server)["in_use"] == 0


@dataclass
class Holder:
    """POST one 512 MiB file from a thread. A 200's reader stops after its first chunk until
    ``resume`` is set, holding the request's reservation; the rest is hashed as it arrives."""

    seed: int
    holding: threading.Event = field(default_factory=threading.Event)  # first bytes in (or refused, or failed)
    resume: threading.Event = field(default_factory=threading.Event)
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    length: int = 0
    payload: str = ""  # a 200's SHA-256 (base64), else its body
    error: Exception | None = None

    def start(self, url: str) -> threading.Thread:
        thread = threading.Thread(target=self._fetch, args=(url,), daemon=True)
        thread.start()
        return thread

    def _fetch(self, url: str) -> None:
        body = {"seed": self.seed, "shape": [HUGE], "scheme": "uniform"}
        try:
            with httpx.Client(base_url=url, timeout=HANG) as client, client.stream("POST", "/init", json=body) as got:
                self.status, self.headers = got.status_code, dict(got.headers)
                if got.status_code != 200:
                    self.payload = got.read().decode()
                    return
                digest, chunks = hashlib.sha256(), got.iter_bytes(4 * MIB)
                for chunk in chunks:
                    digest.update(chunk)
                    self.length += len(chunk)
                    if not self.holding.is_set():
                        self.holding.set()
                        if not self.resume.wait(HANG):
                            raise TimeoutError(f"seed {self.seed}: never resumed")
                self.payload = base64.b64encode(digest.digest()).decode()
        except Exception as error:
            self.error = error
        finally:
            self.holding.set()


def test_eight_concurrent_512_mib_requests_against_a_1_gib_budget(server: Server) -> None:
    idle = resident(server.proc.pid, "VmRSS")
    holders: list[Holder] = []
    threads: list[threading.Thread] = []
    in_use_before: list[int] = []  # reserved just before each request was sent
    try:
        for seed in range(CONCURRENT):  # one at a time, each sent once the ones before it hold or were refused
            in_use_before.append(budget_of(server)["in_use"])
            holders.append(Holder(seed))
            threads.append(holders[-1].start(server.url))
            assert holders[-1].holding.wait(HANG) and holders[-1].error is None, (seed, holders[-1].error)
        held = budget_of(server)["in_use"]  # every admitted reader is still stalled
    finally:
        for holder in holders:
            holder.resume.set()
        for thread in threads:
            thread.join(HANG)

    assert server.proc.poll() is None, server.died()
    statuses = [holder.status for holder in holders]
    each = held // max(1, statuses.count(200))  # the same request, the same reservation
    fit = BUDGET // each  # 1 GiB / (8 MiB + one 128 MiB piece): 7
    assert 0 < fit < CONCURRENT and statuses == [200] * fit + [503] * (CONCURRENT - fit), (statuses, each)
    # The precondition, checked: every admitted request still held its reservation when the next
    # one arrived, so each refusal met a full budget.
    assert in_use_before == [min(i, fit) * each for i in range(CONCURRENT)], (in_use_before, each)
    for holder in holders:
        assert holder.error is None, (holder.seed, holder.error)
        if holder.status == 200:
            assert holder.length == int(holder.headers["content-length"]) > HUGE * 4
            assert holder.headers["repr-digest"] == f"sha-256=:{holder.payload}:"
        else:
            assert holder.headers["content-type"] == "application/problem+json"
            assert int(holder.headers["retry-after"]) >= 1
            assert "INITW_MEMORY_BUDGET_BYTES" in holder.payload
    assert len({holder.payload for holder in holders if holder.status == 200}) == fit  # one file per seed
    assert released(server), "a finished response still holds its reservation"
    peak = resident(server.proc.pid, "VmHWM")
    budget = budget_of(server)
    print(
        f"\n{statuses.count(200)} served, {statuses.count(503)} refused; idle RSS {idle / MIB:.0f} MiB, peak RSS "
        f"{peak / MIB:.0f} MiB, most reserved {budget['peak'] / MIB:.0f} MiB of {BUDGET / MIB:.0f} MiB"
    )
    assert budget["refused"] >= statuses.count(503)
    assert budget["peak"] <= BUDGET
    assert peak <= idle + BUDGET
    # The server still answers.
    again = server.client.post("/init", json={"seed": 1, "shape": [64, 64], "scheme": "orthogonal"})
    assert again.status_code == 200


def test_a_client_gone_mid_stream_gives_its_reservation_back(server: Server) -> None:
    body = {"seed": 99, "shape": [HUGE], "scheme": "normal"}
    with server.client.stream("POST", "/init", json=body) as response:
        assert response.status_code == 200
        # Kept: a dropped iter_bytes() generator closes the response (and the connection) when
        # collected, and the server, noticing at once, would end the request before the check.
        chunks = response.iter_bytes()
        next(chunks)
        assert budget_of(server)["in_use"] > 0  # held while the response is unfinished
    # Closing the stream closed the connection: the server's send fails and the request unwinds,
    # which takes one piece's generation.
    assert released(server), "a client that went away still holds its reservation"
    assert server.proc.poll() is None


def test_a_client_that_stops_reading_is_abandoned_after_send_seconds(impatient: Server) -> None:
    body = json.dumps({"seed": 7, "shape": [HUGE], "scheme": "uniform"}).encode()
    with socket.create_connection(("127.0.0.1", impatient.port)) as sock:
        head = (f"POST /init HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()  # fmt: skip
        started = time.monotonic()  # before the request exists, so before any send of its response
        sock.sendall(head + body)
        status = b""
        while len(status) < 12 and (more := sock.recv(12 - len(status))):
            status += more
        assert status == b"HTTP/1.1 200"
        # 512 MiB cannot fit in the socket buffers: the server's sends block from here on.
        assert released(impatient), "a stalled reader still holds its reservation"
        waited = time.monotonic() - started
        # The abandoning send began after the request was sent and waited SEND_SECONDS.
        assert waited >= SEND_SECONDS
    assert impatient.proc.poll() is None
    assert impatient.client.get("/healthz").status_code == 200
    print(f"\nstalled reader released {waited:.1f} s after its request")


def test_a_client_gone_during_the_digest_pass_stops_it_and_frees_the_budget(server: Server) -> None:
    """A 2^32-element file's digest pass (before the first byte: the headers carry the SHA-256) takes
    tens of seconds here; the client leaves once the server holds its reservation. The work stops
    at its next piece: the budget comes back, and the pass never finished (the server would have
    remembered the digest, and a HEAD of the same URL would carry it)."""
    target = "/init?shape=4294967296&scheme=uniform&seed=5"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        deadline = time.monotonic() + HANG
        while not budget_of(server)["in_use"] and time.monotonic() < deadline:
            time.sleep(0.05)  # the polling interval
        assert budget_of(server)["in_use"] > 0, "the request never started"
    assert released(server), "a client that went away still holds its reservation"
    head = server.client.head(target)
    assert head.status_code == 200 and "repr-digest" not in head.headers  # the pass was abandoned
    assert server.proc.poll() is None
