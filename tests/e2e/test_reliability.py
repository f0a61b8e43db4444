"""End to end, reliability: real ``python -m service serve`` processes on loopback, spoken to with
service.client and raw httpx.

- integrity: a TCP proxy between client and server cuts a response mid-body or flips one byte of
  it; the client notices both (Content-Length, Repr-Digest), retries, and never leaves a partial
  file under the target name;
- graceful drain: after SIGTERM the server stops listening at once, lets in-flight responses
  finish within INITW_GRACE_SECONDS and exits 0; a shorter grace cuts them, and the client says so;
- concurrency: 200 mixed requests at once against two worker processes, each answer byte-identical
  to its twin fetched afterwards, one at a time.

Measurements are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.client import Client, Download, IntegrityError, NetworkError, to_arrays

from .servers import READY_DEADLINE, Server, serving, start, stop, wait_ready

pytestmark = pytest.mark.slow  # real server processes
MiB = 1 << 20
BODY = {"seed": 5, "shape": [512, 512], "scheme": {"name": "truncated_normal", "std": 0.02}}  # a 1 MiB file


def repr_digest(content: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(content).digest()).decode()}:"


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    """Processes a test starts; every one is stopped (SIGTERM, then SIGKILL) in teardown."""
    started: list[Server] = []
    yield started
    for server in started:
        stop(server)


def serve(started: list[Server], directory: Path, name: str, **env: str) -> Server:
    server = start(name, directory, env=env)
    started.append(server)
    wait_ready(server)
    return server


# ----------------------------------------------------------------------------- integrity


class TamperingProxy:
    """A loopback TCP proxy in front of a server. Requests pass through untouched; each response's
    head passes through and its body is cut after ``cut`` bytes (both connections then close) or
    has the byte at offset ``flip`` inverted, for the first ``times`` responses."""

    def __init__(self, upstream: int, *, cut: int | None = None, flip: int | None = None, times: int = 1 << 30):
        self.upstream, self.cut, self.flip, self.times = upstream, cut, flip, times
        self.tampered = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.sockets: list[socket.socket] = []
        self.closing, self.lock = threading.Event(), threading.Lock()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def __enter__(self) -> TamperingProxy:
        return self

    def __exit__(self, *_: object) -> None:
        self.closing.set()
        for thread in self.threads[:1]:
            thread.join(5)
        self.listener.close()
        for sock in self.sockets:
            _close(sock)
        for thread in self.threads[1:]:
            thread.join(5)

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            self.sockets += [client, upstream]
            for pump, ends in ((self._requests, (client, upstream)), (self._responses, (upstream, client))):
                self.threads.append(threading.Thread(target=pump, args=ends, daemon=True))
                self.threads[-1].start()

    @staticmethod
    def _requests(client: socket.socket, upstream: socket.socket) -> None:
        try:
            while data := client.recv(1 << 16):
                upstream.sendall(data)
        except OSError:
            pass

    def _responses(self, upstream: socket.socket, client: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = upstream.recv(1 << 16)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
                client.sendall(head + b"\r\n\r\n")
                with self.lock:
                    tamper = self.tampered < self.times
                    self.tampered += 1 if tamper else 0
                sent = 0
                while sent < length:
                    if not buffer and not (buffer := upstream.recv(1 << 16)):
                        return
                    piece, buffer = buffer[: length - sent], buffer[length - sent :]
                    if tamper and self.flip is not None and sent <= self.flip < sent + len(piece):
                        flipped = bytearray(piece)
                        flipped[self.flip - sent] ^= 0xFF
                        piece = bytes(flipped)
                    if tamper and self.cut is not None and sent + len(piece) >= self.cut:
                        client.sendall(piece[: self.cut - sent])
                        return
                    client.sendall(piece)
                    sent += len(piece)
        except OSError:
            pass
        finally:
            _close(client)
            _close(upstream)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv
    except OSError:
        pass
    sock.close()


@pytest.fixture(scope="module")
def integrity_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving("integrity", tmp_path_factory.mktemp("integrity")) as server:
        yield server


@pytest.fixture(scope="module")
def good(integrity_server: Server) -> bytes:
    response = integrity_server.client.post("/init", json=BODY)
    assert response.status_code == 200 and response.headers["repr-digest"] == repr_digest(response.content)
    return response.content


def test_a_cut_response_is_noticed_and_never_lands_at_the_target(
    integrity_server: Server, good: bytes, tmp_path: Path
) -> None:
    target = tmp_path / "w.safetensors"
    target.write_bytes(b"the previous file")
    with TamperingProxy(integrity_server.port, cut=len(good) // 2) as proxy:
        # Raw httpx: the connection closes before Content-Length bytes arrived.
        with pytest.raises(httpx.RemoteProtocolError, match="without sending complete message body"):
            httpx.post(f"{proxy.url}/init", json=BODY)
        with Client(proxy.url, retries=2, backoff=0.01) as initw:
            with pytest.raises(IntegrityError, match=f"broke off after {len(good) // 2:,} of {len(good)} bytes") as cut:
                initw.init_to_file(BODY, target)
            with pytest.raises(IntegrityError):
                initw.init(BODY)
    assert cut.value.attempts == 3 and proxy.tampered == 1 + 3 + 3
    assert target.read_bytes() == b"the previous file" and list(tmp_path.iterdir()) == [target]


def test_a_flipped_byte_is_noticed(integrity_server: Server, good: bytes, tmp_path: Path) -> None:
    target = tmp_path / "w.safetensors"
    with TamperingProxy(integrity_server.port, flip=len(good) // 2) as proxy:
        # Raw httpx takes it: same length, one byte different; only the digest tells.
        raw = httpx.post(f"{proxy.url}/init", json=BODY)
        assert raw.status_code == 200 and len(raw.content) == len(good) and raw.content != good
        assert raw.headers["repr-digest"] == repr_digest(good) != repr_digest(raw.content)
        with Client(proxy.url, retries=1, backoff=0.01) as initw:
            with pytest.raises(IntegrityError, match="Repr-Digest says") as flipped:
                initw.init_to_file(BODY, target)
    assert flipped.value.attempts == 2 and not target.exists() and list(tmp_path.iterdir()) == []


def test_a_retry_recovers_from_one_broken_response(integrity_server: Server, good: bytes, tmp_path: Path) -> None:
    with TamperingProxy(integrity_server.port, cut=1000, times=1) as proxy:
        with Client(proxy.url, backoff=0.01) as initw:
            done = initw.init_to_file(BODY, tmp_path / "w.safetensors")
    assert done.attempts == 2 and (tmp_path / "w.safetensors").read_bytes() == good
    assert done.sha256 == hashlib.sha256(good).hexdigest()


# ----------------------------------------------------------------------------- graceful drain
#
# A response is certainly in flight at SIGTERM when its reader has stopped reading and more of it
# is left than the kernels can hold: the client's receive buffer (fixed with SO_RCVBUF, so it does
# not grow) and the server's send buffer (at most tcp_wmem's maximum, or twice wmem_max when the
# server sets SO_SNDBUF). Whatever arrives beyond that after SIGTERM was written by the process
# after SIGTERM. No step waits for time to pass: each waits for an event, under a deadline that
# only a hang reaches.

RCVBUF = 64 << 10
STALL_DEADLINE = 120.0  # seconds for every reader to get its first bytes (a 256 MiB digest pass first)
DRAIN_GRACE = 120.0  # INITW_GRACE_SECONDS: the drain ends when the readers finish, long before this
HANG = 60.0  # seconds after which a step that must happen counts as hung


def in_flight_bound() -> int:
    """Most bytes of one response that can sit in kernel buffers between the server's writes and
    the stalled client's reads on loopback, plus what httpx may have read ahead (one chunk)."""
    wmem = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    wmem_max = int(Path("/proc/sys/net/core/wmem_max").read_text())
    return 2 * RCVBUF + max(wmem, 2 * wmem_max) + MiB  # Linux doubles SO_RCVBUF for its bookkeeping


@dataclass
class Transfer:
    """One download by service.client in a thread, whose reader stops after the first chunk until
    ``resume`` is set: a stalled reader, holding the response in flight."""

    name: str
    body: dict[str, Any]
    stalled: threading.Event = field(default_factory=threading.Event)  # first bytes in, reader stopped (or failed)
    resume: threading.Event = field(default_factory=threading.Event)
    received: int = 0
    total: int | None = None  # Content-Length
    result: Download | None = None
    error: Exception | None = None

    def progress(self, received: int, total: int | None) -> None:
        self.received, self.total = received, total
        if not self.stalled.is_set():
            self.stalled.set()
            if not self.resume.wait(STALL_DEADLINE + DRAIN_GRACE):
                raise TimeoutError(f"{self.name}: never resumed")

    def run(self, url: str, directory: Path) -> threading.Thread:
        RUNNING.append(self)

        def download() -> None:
            transport = httpx.HTTPTransport(socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)])
            try:
                with Client(url, retries=0, transport=transport) as initw:  # a retry would hide what the first got
                    target = directory / f"{self.name}.safetensors"
                    self.result = initw.init_to_file(self.body, target, progress=self.progress)
            except Exception as error:
                self.error = error
            finally:
                self.stalled.set()

        thread = threading.Thread(target=download, daemon=True)
        thread.start()
        return thread


RUNNING: list[Transfer] = []  # started by the current test


@pytest.fixture(autouse=True)
def resume_stalled_readers() -> Iterator[None]:
    """A test that fails while its readers are stalled leaves no thread waiting behind it."""
    yield
    while RUNNING:
        RUNNING.pop().resume.set()


def sigterm_while_stalled(
    server: Server, transfers: list[Transfer], directory: Path
) -> tuple[list[threading.Thread], float]:
    """Start the transfers, wait until each reader has stalled with its response in flight, send
    SIGTERM; the time taken just before it."""
    threads = [transfer.run(server.url, directory) for transfer in transfers]
    for transfer in transfers:
        assert transfer.stalled.wait(STALL_DEADLINE), f"{transfer.name}: no bytes in {STALL_DEADLINE:.0f} s"
    assert all(t.result is None and t.error is None for t in transfers), [t.error for t in transfers]
    bound = in_flight_bound()
    for transfer in transfers:  # the precondition, checked rather than hoped for
        assert transfer.total is not None and transfer.total - transfer.received > bound, (
            f"{transfer.name}: {transfer.total} bytes, {transfer.received} received: too few left to prove "
            f"anything beyond the {bound} bytes the kernels can hold"
        )
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    return threads, signalled


def refused_after(port: int, since: float, within: float = HANG) -> float:
    """Seconds from ``since`` until connecting to ``port`` is refused (the listening socket closed)."""
    while time.monotonic() - since < within:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                pass
        except ConnectionRefusedError:
            return time.monotonic() - since
        time.sleep(0.02)  # the polling interval
    pytest.fail(f"port {port} still accepts connections {within} s after SIGTERM")


def exited_after(server: Server, since: float, within: float) -> float:
    try:
        server.proc.wait(timeout=within)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{server.name} still running {within} s after SIGTERM; stderr:\n{server.stderr()}")
    return time.monotonic() - since


BIG = {"seed": 1, "shape": [8192, 8192], "scheme": {"name": "normal", "std": 0.02}}  # 256 MiB: streamed


def test_sigterm_drains_in_flight_responses_then_exits_0(servers: list[Server], tmp_path: Path) -> None:
    server = serve(servers, tmp_path, "drain", INITW_GRACE_SECONDS=str(DRAIN_GRACE), INITW_SEND_SECONDS="600")
    transfers = [
        Transfer("big", BIG),
        Transfer("held-1", {"seed": 2, "shape": [2048, 4096], "scheme": "xavier_uniform"}),  # 32 MiB, in memory
        Transfer("held-2", {"seed": 3, "shape": [2048, 2048], "scheme": "kaiming_normal", "dtype": "float64"}),
    ]
    threads, signalled = sigterm_while_stalled(server, transfers, tmp_path)
    at_sigterm = {t.name: t.received for t in transfers}
    refused = refused_after(server.port, signalled)
    with Client(server.url, retries=0) as late, pytest.raises(NetworkError):
        late.health()
    # Shutting down (it stopped listening), yet waiting: nothing lets it finish but the readers.
    assert server.proc.poll() is None, server.died()
    for transfer in transfers:
        transfer.resume.set()
    for thread in threads:
        thread.join(DRAIN_GRACE + HANG)
    exit_s = exited_after(server, signalled, DRAIN_GRACE + HANG)
    assert server.proc.returncode == 0, server.stderr()
    bound, delivered = in_flight_bound(), 0
    for transfer in transfers:
        assert transfer.error is None and transfer.result is not None, (transfer.name, transfer.error)
        assert transfer.result.size == transfer.total
        with transfer.result.path.open("rb") as file:
            assert hashlib.file_digest(file, "sha256").hexdigest() == transfer.result.sha256, transfer.name
        # More than the kernels could hold arrived after SIGTERM: the process wrote it after SIGTERM.
        assert transfer.result.size - at_sigterm[transfer.name] > bound, transfer.name
        delivered += transfer.result.size
    print(f"\ndrain: new connections refused {refused:.2f} s after SIGTERM; {delivered:,} bytes in "
          f"{len(transfers)} responses, {delivered - sum(at_sigterm.values()):,} of them after SIGTERM; "
          f"exit 0 at {exit_s:.2f} s (grace {DRAIN_GRACE:.0f} s)")  # fmt: skip


def test_a_grace_shorter_than_the_download_cuts_it(servers: list[Server], tmp_path: Path) -> None:
    server = serve(servers, tmp_path, "short-grace", INITW_GRACE_SECONDS="1", INITW_SEND_SECONDS="600")
    big = Transfer("big", BIG)
    threads, signalled = sigterm_while_stalled(server, [big], tmp_path)
    # The reader stays stalled until the process is gone: the response cannot finish in time.
    exit_s = exited_after(server, signalled, HANG)
    big.resume.set()
    threads[0].join(HANG)
    assert isinstance(big.error, IntegrityError) and "broke off" in str(big.error), big.error
    assert big.total is not None and big.received < big.total and list(tmp_path.glob("big*")) == []
    assert server.proc.returncode == 0, server.stderr()
    assert exit_s >= 1.0  # the in-flight response had its grace before it was cut
    print(f"\nshort grace: cut after {big.received:,} of {big.total:,} bytes; exit 0 at {exit_s:.2f} s (grace 1 s)")


# ----------------------------------------------------------------------------- concurrency

SCHEMES: list[tuple[str, dict[str, Any]]] = [
    ("orthogonal", {}),
    ("truncated_normal", {"std": 0.02}),
    ("truncated_normal", {"std": 1.0, "a": -2.0, "b": 2.0}),
    ("xavier_uniform", {"gain": 2.0}),
    ("kaiming_normal", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("normal", {"std": 0.5}),
    ("uniform", {"a": -0.1, "b": 0.1}),
]
DTYPES = ["float32", "float64", "float16", "bfloat16"]


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, str] | None
    json: dict[str, Any] | None
    accept: str

    def send(self, http: httpx.Client | httpx.AsyncClient) -> Any:
        return http.request(self.method, "/init", params=self.params, json=self.json, headers={"Accept": self.accept})


def mixed(count: int) -> list[Call]:
    """POST and GET /init, 4 to 512 Ki elements (log-uniform), every scheme and dtype; one in five
    asks for the JSON representation (smaller: it carries diagnostics and base64)."""
    rng = random.Random(0)
    calls = []
    for i in range(count):
        name, params = SCHEMES[i % len(SCHEMES)]
        dtype = DTYPES[i // len(SCHEMES) % len(DTYPES)]
        as_json = i % 5 == 0
        largest = 1 << 14 if name == "orthogonal" else 1 << 16 if as_json else 1 << 19
        cols = 2 ** rng.randint(1, 9)
        rows = max(1, round(4 * (largest / 4) ** rng.random()) // cols)
        accept = "application/json" if as_json else "application/octet-stream"
        if i % 2:
            query = {"shape": f"{rows},{cols}", "scheme": name, "seed": str(i), "dtype": dtype}
            calls.append(Call("GET", {**query, **{k: str(v) for k, v in params.items()}}, None, accept))
        else:
            body = {"seed": i, "shape": [rows, cols], "scheme": {"name": name, **params}, "dtype": dtype}
            calls.append(Call("POST", None, body, accept))
    return calls


def checked(response: httpx.Response) -> bytes:
    """The body, after checking its length and digest (and, for the JSON form, the file inside)."""
    assert response.status_code == 200, response.text[:300]
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["repr-digest"] == repr_digest(response.content)
    if response.headers["content-type"].startswith("application/json"):
        document = response.json()
        file = base64.b64decode(document["safetensors_base64"])
        assert hashlib.sha256(file).hexdigest() == document["artifact"]["sha256"]
    else:
        assert to_arrays(response.content)  # a well-formed safetensors file
    return response.content


def retried(http: httpx.Client, call: Call, attempts: int = 5) -> httpx.Response:
    """The call again while it is 503, waiting out Retry-After."""
    for _ in range(attempts):
        response = call.send(http)
        if response.status_code != 503:
            return response
        time.sleep(min(float(response.headers.get("retry-after", "1")), 5.0))
    return response


def test_200_concurrent_requests_match_their_twins(servers: list[Server], tmp_path: Path) -> None:
    """The twins come one at a time from a second, fresh process, so each is generated anew (the
    first server would answer most of them from its cache of what it just sent)."""
    server, reference = start("concurrent", tmp_path, env={"INITW_WORKERS": "2"}), start("reference", tmp_path)
    servers += [server, reference]
    wait_ready(server)
    wait_ready(reference)
    deadline = time.monotonic() + READY_DEADLINE  # /readyz answered by one worker; the other may still be warming up
    while server.stderr().count("Application startup complete.") < 2:
        assert time.monotonic() < deadline and server.proc.poll() is None, server.stderr()
        time.sleep(0.05)
    calls = mixed(200)

    async def all_at_once() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=120.0) as http:
            return await asyncio.gather(*(call.send(http) for call in calls))

    begin = time.monotonic()
    responses = asyncio.run(all_at_once())
    wall = time.monotonic() - begin
    busy = [i for i, response in enumerate(responses) if response.status_code == 503]
    with httpx.Client(base_url=server.url, timeout=120.0) as http:
        for i in busy:
            responses[i] = retried(http, calls[i])
    begin = time.monotonic()
    twins = [call.send(reference.client) for call in calls]
    sequential = time.monotonic() - begin
    total = 0
    for i, (response, twin) in enumerate(zip(responses, twins, strict=True)):
        assert checked(response) == checked(twin), i
        assert response.headers["etag"] == twin.headers["etag"], i
        total += len(response.content)
    assert len({response.headers["etag"] for response in responses}) == len(calls)
    kinds = {(c.method, c.accept) for c in calls}
    assert len(kinds) == 4
    sizes = sorted(len(response.content) for response in responses)
    print(f"\nconcurrency: {len(calls)} requests ({total / MiB:.1f} MiB, {sizes[0]:,} to {sizes[-1]:,} bytes each) "
          f"at once in {wall:.2f} s over 2 workers, "
          f"{len(busy)} answered 503 (then retried); their twins one at a time from a fresh process in "
          f"{sequential:.2f} s")  # fmt: skip
