"""The hostile corpus on a real socket: ``python -m service serve`` on loopback (the way the README
and the Dockerfile start it) with INITW_BODY_SECONDS=1, spoken to with raw sockets, so bodies can
stall, trickle, stop short and half-close, and requests can be malformed at the HTTP level.

Malformed HTTP never reaches the app: uvicorn's parser answers it (text/plain "Invalid HTTP
request received." and a closed connection) or lets it through, and which one depends on the
parser uvicorn picked: httptools when it is installed, h11 otherwise. ``RAW`` records what each
does; whatever reaches the app gets the corpus's problem. After all of it the process is alive and
serves the same bytes as before.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from ..e2e.servers import Server, start, stop, wait_ready
from .corpus import (
    ANSWER_SECONDS,
    ANSWERED,
    BODY_LIMIT,
    BODY_SECONDS,
    CASES,
    CHUNKED,
    MAX_ELEMENTS,
    PLAIN_GET,
    PLAIN_POST,
    STALL_MISSING,
    STALLED,
    TRICKLE,
    TRICKLE_SECONDS,
    UNPICKLED,
    Answer,
    Case,
    check,
    shorthand,
)

try:  # the parser uvicorn's http="auto" picks, the same way
    import httptools  # noqa: F401

    PARSER = "httptools"
except ImportError:
    PARSER = "h11"
pytestmark = pytest.mark.slow  # a real server process
HANG = ANSWER_SECONDS  # seconds without an answer that count as a hang


# ----------------------------------------------------------------------------- a raw HTTP/1.1 client


def encode(case: Case) -> tuple[bytes, list[bytes]]:
    """The request head and the body's pieces as they go on the wire."""
    payload = case.payload()
    lines = [f"{case.method} {case.target} HTTP/1.1".encode(), b"Host: 127.0.0.1"]
    lines += [name.encode() + b": " + value.encode() for name, value in case.headers]
    given = {name.lower() for name, _ in case.headers}
    pieces = [payload]
    if case.delivery == CHUNKED:
        lines.append(b"Transfer-Encoding: chunked")
        pieces = [payload[i : i + (1 << 16)] for i in range(0, len(payload), 1 << 16)]
        pieces = [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces] + [b"0\r\n\r\n"]
    elif case.delivery == TRICKLE:
        pieces = [payload[i : i + 1] for i in range(len(payload))]
    if "content-length" not in given and case.delivery != CHUNKED and (payload or case.method in ("POST", "PUT")):
        declared = len(payload) + (STALL_MISSING if case.delivery == STALLED else 0)
        lines.append(b"Content-Length: %d" % declared)
    return b"\r\n".join(lines) + b"\r\n\r\n", pieces


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes] | None:
    """One response (by Content-Length, chunked, or up to the close); None if the server closed
    the connection without answering."""
    buffer = b""

    def more() -> bool:
        nonlocal buffer
        try:
            chunk = sock.recv(1 << 16)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        buffer += chunk
        return bool(chunk)

    while b"\r\n\r\n" not in buffer:
        if not more():
            assert not buffer, f"a partial response: {buffer[:300]!r}"
            return None
    head, _, body = buffer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    buffer = body
    if "content-length" in headers:
        while len(buffer) < int(headers["content-length"]) and more():
            pass
        body = buffer[: int(headers["content-length"])]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while not buffer.endswith(b"0\r\n\r\n") and more():
            pass
        body, rest = b"", buffer
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            body, rest = body + rest[: int(size, 16)], rest[int(size, 16) + 2 :]
    else:
        while more():
            pass
        body = buffer
    return int(status_line.split()[1]), headers, body


def exchange(port: int, head: bytes, pieces: list[bytes], delay: float = 0.0, half_close: bool = False) -> Answer:
    """Write the request from a thread (so a server that answers early is heard while the body
    still goes out, or is refused) and read one answer; status 0 if none came."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=HANG)
    answered = threading.Event()

    def write() -> None:
        try:
            sock.sendall(head)
            for piece in pieces:
                if delay:
                    time.sleep(delay)
                if answered.is_set():
                    return
                sock.sendall(piece)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed: the answer is what counts

    writer = threading.Thread(target=write, daemon=True)
    began = time.monotonic()
    writer.start()
    try:
        got = read_answer(sock)
        elapsed = time.monotonic() - began
    finally:
        answered.set()
        sock.close()
        writer.join(timeout=HANG)
    if got is None:
        return Answer(0, {}, b"", elapsed)
    return Answer(*got, elapsed)


def send(server: Server, case: Case) -> Answer:
    head, pieces = encode(case)
    return exchange(server.port, head, pieces, TRICKLE_SECONDS if case.delivery == TRICKLE else 0.0)


# ----------------------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("hostile-wire")
    env = {
        "INITW_BODY_SECONDS": str(BODY_SECONDS),
        "INITW_MAX_BODY_BYTES": str(BODY_LIMIT),
        "INITW_MAX_ELEMENTS": str(MAX_ELEMENTS),
        "INITW_CACHE_BYTES": "0",  # every repeat is generated again
        "INITW_JOB_DIR": str(directory / "jobs"),
    }
    if UNPICKLED.exists():
        shutil.rmtree(UNPICKLED)
    process = start("hostile", directory, env=env)
    try:
        wait_ready(process)
        yield process
    finally:
        if not stop(process):
            pytest.fail(process.died())


@pytest.fixture(autouse=True)
def alive(server: Server) -> Iterator[None]:
    yield
    if server.proc.poll() is not None:
        pytest.fail(server.died())


@pytest.fixture(scope="module")
def before(server: Server) -> dict[str, str]:
    return {case.name: digest(server, case) for case in (PLAIN_POST, PLAIN_GET)}


def digest(server: Server, case: Case) -> str:
    answer = send(server, case)
    assert answer.status == 200, answer.body[:300]
    return hashlib.sha256(answer.body).hexdigest()


# ----------------------------------------------------------------------------- the corpus


ON_THE_WIRE = [case for case in CASES if case.wire]
SERVED_ON_THE_WIRE = [case for case in ANSWERED if case.wire]


@pytest.mark.parametrize("case", ON_THE_WIRE, ids=[case.name for case in ON_THE_WIRE])
def test_hostile_request_gets_a_precise_problem(server: Server, before: dict[str, str], case: Case) -> None:
    check(case, send(server, case))


@pytest.mark.parametrize("case", SERVED_ON_THE_WIRE, ids=[case.name for case in SERVED_ON_THE_WIRE])
def test_hostile_looking_request_is_served_on_purpose(server: Server, before: dict[str, str], case: Case) -> None:
    answer = send(server, case)
    check(case, answer)
    assert case.same_as is not None
    assert hashlib.sha256(answer.body).hexdigest() == before[case.same_as.name]


# ----------------------------------------------------------------------------- HTTP-level hostility

UVICORN_400 = "uvicorn's 400"  # text/plain "Invalid HTTP request received.", then the connection closes
SERVED = "served"  # reaches the app like any request: GET /healthz answers 200
CLOSED = "closed"  # the connection closes without an answer (the client is gone)
Outcome = str | Case  # a Case: the app answers with that problem


@dataclass(frozen=True)
class Raw:
    name: str
    request: Callable[[], bytes]
    # parser -> what it does. h11 refuses a request head over 16 KiB (h11_max_incomplete_event_size)
    # unless the whole head arrives in one read (asyncio reads up to 256 KiB): either may happen.
    outcome: dict[str, tuple[Outcome, ...]]
    half_close: bool = False


def http(request_line: str, *headers: str, body: bytes = b"") -> Callable[[], bytes]:
    return lambda: "\r\n".join((request_line, "Host: 127.0.0.1", *headers, "", "")).encode("latin-1") + body


def healthz_with(*headers: str) -> Callable[[], bytes]:
    return http("GET /healthz HTTP/1.1", *headers)


def both(outcome: Outcome) -> dict[str, tuple[Outcome, ...]]:
    return {"httptools": (outcome,), "h11": (outcome,)}


JSON_POST = ("Content-Type: application/json",)
# fmt: off
RAW = [
    Raw("garbage-request-line", lambda: b"\x00\x01\x02 garbage\r\n\r\n", both(UVICORN_400)),
    Raw("content-length-not-a-number", http("POST /init HTTP/1.1", *JSON_POST, "Content-Length: ten"),
        both(UVICORN_400)),
    Raw("content-length-negative", http("POST /init HTTP/1.1", *JSON_POST, "Content-Length: -1"), both(UVICORN_400)),
    Raw("chunk-size-not-hex", http("POST /init HTTP/1.1", *JSON_POST, "Transfer-Encoding: chunked",
                                   body=b"zz\r\n{}\r\n"), both(UVICORN_400)),
    Raw("space-before-the-colon", healthz_with("X-Evil : 1"), both(UVICORN_400)),
    Raw("nul-in-a-header-value", healthz_with("X-Evil: a\x00b"), both(UVICORN_400)),
    Raw("1000-headers", healthz_with(*(f"X-Flood-{i}: {i}" for i in range(1000))), both(SERVED)),
    Raw("100-kb-header-line", healthz_with("X-Flood: " + "a" * 100_000),
        {"httptools": (SERVED,), "h11": (SERVED, UVICORN_400)}),
    Raw("1-mb-header-line", healthz_with("X-Flood: " + "a" * 1_000_000),
        {"httptools": (SERVED,), "h11": (UVICORN_400,)}),
    Raw("http-0.9-request-line", lambda: b"GET /healthz\r\n\r\n", {"httptools": (SERVED,), "h11": (UVICORN_400,)}),
    Raw("obsolete-line-folding", healthz_with("X-Folded: a", " b"), {"httptools": (UVICORN_400,), "h11": (SERVED,)}),
    Raw("unknown-method", http("BREW /init HTTP/1.1"),
        {"httptools": (UVICORN_400,), "h11": (next(c for c in CASES if c.name == "unknown-method"),)}),
    Raw("query-over-64-kib", http("GET /init?shape=2&scheme=normal&pad=" + "x" * 100_000 + " HTTP/1.1"),
        {"httptools": (UVICORN_400,), "h11": (next(c for c in CASES if c.name == "get-query-100kb"), UVICORN_400)}),
    Raw("content-length-and-chunked", http("POST /init HTTP/1.1", *JSON_POST, "Content-Length: 5",
                                           "Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
        {"httptools": (UVICORN_400,), "h11": (Case("chunked-wins", 400, "malformed-json"),)}),
    Raw("truncated-body-then-half-close", http("POST /init HTTP/1.1", *JSON_POST, "Content-Length: 1000",
                                               body=shorthand()[:20]), both(CLOSED), half_close=True),
]
# fmt: on


@pytest.mark.parametrize("raw", RAW, ids=[raw.name for raw in RAW])
def test_malformed_http_is_answered_by_the_parser_or_the_app(server: Server, raw: Raw) -> None:
    answer = exchange(server.port, raw.request(), [], half_close=raw.half_close)
    seen = describe(answer)
    expected = raw.outcome[PARSER]
    assert answer.elapsed < ANSWER_SECONDS, f"{raw.name}: {answer.elapsed:.2f} s"
    for outcome in expected:
        if isinstance(outcome, Case):
            if answer.status == outcome.status and answer.headers.get("content-type") == "application/problem+json":
                check(outcome, answer)
                return
        elif seen == outcome:
            return
    labels = [outcome.name if isinstance(outcome, Case) else outcome for outcome in expected]
    pytest.fail(f"{raw.name} with {PARSER}: {seen} ({answer.status} {answer.body[:200]!r}), expected {labels}")


def describe(answer: Answer) -> str:
    if answer.status == 0:
        return CLOSED
    if (answer.status, answer.body) == (400, b"Invalid HTTP request received."):
        assert answer.headers.get("content-type", "").startswith("text/plain")
        assert answer.headers.get("connection", "").lower() == "close"
        return UVICORN_400
    if (answer.status, answer.body) == (200, b'{"status":"ok"}'):
        return SERVED
    return f"{answer.status} {answer.headers.get('content-type')}"


def test_unfinished_headers_hold_a_connection_but_not_the_server(server: Server) -> None:
    """uvicorn has no timeout for a request head that never ends (INITW_BODY_SECONDS covers
    bodies only): the connection stays open, silent, and everyone else is served meanwhile. A
    proxy in front (client_header_timeout) is what closes such connections."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=HANG) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        # Waiting past INITW_BODY_SECONDS is what is tested (no timeout fires for a head), not a
        # hope that something got somewhere; the request below is served after that moment, so
        # a timer due then would have run first and its close would be seen below.
        time.sleep(BODY_SECONDS + 0.5)
        healthz = exchange(server.port, http("GET /healthz HTTP/1.1")(), [])
        assert describe(healthz) == SERVED  # served meanwhile, however loaded the machine
        slow.setblocking(False)
        with pytest.raises(BlockingIOError):
            slow.recv(1)  # neither an answer nor a close: still waiting for the head


def test_still_serving_the_same_bytes_after_the_corpus(server: Server, before: dict[str, str]) -> None:
    assert send(server, Case("healthz", 200, method="GET", target="/healthz", headers=())).body == b'{"status":"ok"}'
    for case in (PLAIN_POST, PLAIN_GET):
        assert digest(server, case) == before[case.name]
    assert server.proc.poll() is None
    assert not UNPICKLED.exists(), "an uploaded pickle was unpickled"
    assert "Traceback" not in server.stderr(), server.stderr()
