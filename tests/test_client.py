"""service.client against the in-process app (an httpx.MockTransport that forwards to Starlette's
TestClient), with faults injected between the two: corrupt and short bodies, broken streams, 503
with Retry-After, 4xx that must not be retried, an unreachable server."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import ml_dtypes
import numpy as np
import pytest
import safetensors.numpy
from starlette.testclient import TestClient

from service import client as client_module
from service.client import Client, ClientError, IntegrityError, NetworkError, ProblemError, to_arrays

BODY: dict[str, Any] = {
    "seed": 7,
    "tensors": [
        {"name": "orth", "shape": [16, 8], "scheme": "orthogonal"},
        {"name": "trunc", "shape": [64, 4], "scheme": {"name": "truncated_normal", "std": 0.5}, "dtype": "float16"},
        {"name": "glorot", "shape": [8, 8], "scheme": "glorot_uniform", "dtype": "float64"},
        {"name": "conv", "shape": [4, 3, 3, 3], "scheme": {"name": "kaiming_normal", "mode": "fan_out"},
         "dtype": "bfloat16"},
    ],
}  # fmt: skip
INVALID = {"seed": 0, "shape": [2, 2], "scheme": {"name": "normal", "std": -1}}
Tamper = Callable[[int, httpx.Response], httpx.Response]  # (attempt, the app's answer) -> what the client gets


class Proxy:
    """A MockTransport in front of the in-process app that counts requests and can tamper with answers."""

    def __init__(self, app: TestClient, tamper: Tamper | None = None):
        self.app, self.tamper, self.requests = app, tamper, 0
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        answer = self.app.request(
            request.method, request.url.raw_path.decode(), content=request.content, headers=dict(request.headers)
        )
        response = httpx.Response(answer.status_code, headers=answer.headers.multi_items(), content=answer.content)
        return response if self.tamper is None else self.tamper(self.requests, response)

    def client(self, **options: Any) -> Client:
        return Client("http://initw.test", transport=self.transport, **options)


def replaced(response: httpx.Response, content: bytes) -> httpx.Response:
    """The same answer with another body, its headers (Content-Length, Repr-Digest) kept."""
    return httpx.Response(response.status_code, headers=response.headers, content=content)


class Broken(httpx.SyncByteStream):
    """A response body that breaks off the way a closed connection does."""

    def __init__(self, chunks: Callable[[], Iterator[bytes]]):
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks()


def flip(response: httpx.Response) -> httpx.Response:
    body = bytearray(response.content)
    body[len(body) // 2] ^= 0xFF
    return replaced(response, bytes(body))


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait between attempts, instead of sleeping it."""
    waits: list[float] = []
    monkeypatch.setattr(client_module, "_sleep", waits.append)
    return waits


@pytest.fixture(scope="module")
def good(client: TestClient) -> bytes:
    response = client.post("/init", json=BODY)
    assert response.status_code == 200
    return response.content


# ----------------------------------------------------------------------------- the API


def tensors_of(blob: bytes) -> dict[str, tuple[str, list[int], bytes]]:
    """Each tensor's safetensors dtype, shape and bytes, straight from the file's header."""
    size = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + size])
    header.pop("__metadata__", None)
    data = blob[8 + size :]
    return {
        name: (t["dtype"], t["shape"], data[t["data_offsets"][0] : t["data_offsets"][1]]) for name, t in header.items()
    }


def test_init_returns_the_arrays_in_the_file(client: TestClient, good: bytes) -> None:
    with Proxy(client).client() as initw:
        arrays = initw.init(BODY)
    stored = tensors_of(good)
    assert list(arrays) == sorted(stored)
    kinds = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": ml_dtypes.bfloat16}
    for name, (code, shape, data) in stored.items():
        assert arrays[name].dtype == kinds[code] and list(arrays[name].shape) == shape, name
        assert arrays[name].tobytes() == data, name
        assert arrays[name].flags.writeable
    widened = (np.frombuffer(stored["conv"][2], "<u2").astype(np.uint32) << 16).view(np.float32)
    assert np.array_equal(arrays["conv"].astype(np.float32).ravel(), widened)
    # A tensor's bytes depend only on the seed, its name and spec: the stock loader reads the others alike.
    stock = safetensors.numpy.load(client.post("/init", json={**BODY, "tensors": BODY["tensors"][:3]}).content)
    for name, values in stock.items():
        assert values.dtype == arrays[name].dtype and np.array_equal(values, arrays[name]), name


def test_get_init_is_post_init_with_the_shorthand(client: TestClient) -> None:
    with Proxy(client).client() as initw:
        got = initw.get_init([64, 32], "kaiming_uniform", seed=3, mode="fan_out", dtype="float64")
        posted = initw.init({"seed": 3, "shape": [64, 32], "dtype": "float64",
                             "scheme": {"name": "kaiming_uniform", "mode": "fan_out"}})  # fmt: skip
    assert got["weight"].dtype == np.float64 and got["weight"].tobytes() == posted["weight"].tobytes()


def test_init_to_file_writes_the_verified_file(client: TestClient, good: bytes, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    with Proxy(client).client() as initw:
        done = initw.init_to_file(
            BODY, tmp_path / "w.safetensors", progress=lambda got, total: seen.append((got, total))
        )
    assert (tmp_path / "w.safetensors").read_bytes() == good
    assert list(tmp_path.iterdir()) == [tmp_path / "w.safetensors"]  # no temporary file left behind
    assert done.size == len(good) and done.sha256 == hashlib.sha256(good).hexdigest() and done.attempts == 1
    assert done.etag is not None and done.etag.startswith('"')
    assert seen[-1] == (len(good), len(good))


def test_json_endpoints(client: TestClient) -> None:
    with Proxy(client).client() as initw:
        assert initw.health() == {"status": "ok"}
        assert initw.ready() is True
        names = {scheme["name"] for scheme in initw.schemes()}
        assert {"orthogonal", "truncated_normal", "xavier_uniform"} <= names
        report = initw.diagnostics(BODY)
    assert set(report["diagnostics"]) == {"orth", "trunc", "glorot", "conv"}


def test_to_arrays_rejects_what_is_not_safetensors() -> None:
    with pytest.raises(IntegrityError, match="not a valid safetensors file"):
        to_arrays(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")


# ----------------------------------------------------------------------------- integrity


def test_corrupt_byte_is_an_integrity_error_after_every_retry(client: TestClient, sleeps: list[float]) -> None:
    proxy = Proxy(client, lambda attempt, response: flip(response))
    with proxy.client(retries=2) as initw, pytest.raises(IntegrityError, match="Repr-Digest") as caught:
        initw.init(BODY)
    assert caught.value.attempts == 3 and proxy.requests == 3 and len(sleeps) == 2


def test_short_body_is_an_integrity_error_after_every_retry(client: TestClient, sleeps: list[float]) -> None:
    proxy = Proxy(client, lambda attempt, response: replaced(response, response.content[:-100]))
    with proxy.client() as initw, pytest.raises(IntegrityError, match="Content-Length") as caught:
        initw.init(BODY)
    assert caught.value.attempts == 4 and proxy.requests == 4  # retries=3 by default
    assert len(sleeps) == 3  # exponential backoff (0.5 s doubling) with +-50 % jitter
    assert all(0.25 * 2**i <= wait <= 0.75 * 2**i for i, wait in enumerate(sleeps)), sleeps


def test_a_broken_stream_is_retried_and_the_file_appears_only_whole(
    client: TestClient, good: bytes, sleeps: list[float], tmp_path: Path
) -> None:
    def broken(attempt: int, response: httpx.Response) -> httpx.Response:
        if attempt > 1:
            return response

        def chunks() -> Iterator[bytes]:
            yield response.content[:1000]
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

        return httpx.Response(200, headers=response.headers, stream=Broken(chunks))

    target = tmp_path / "w.safetensors"
    target.write_bytes(b"the previous file")
    with Proxy(client, broken).client() as initw:
        done = initw.init_to_file(BODY, target)
    assert done.attempts == 2 and len(sleeps) == 1
    assert target.read_bytes() == good and list(tmp_path.iterdir()) == [target]


def test_a_failed_download_leaves_the_previous_file_alone(
    client: TestClient, sleeps: list[float], tmp_path: Path
) -> None:
    target = tmp_path / "w.safetensors"
    target.write_bytes(b"the previous file")
    with Proxy(client, lambda attempt, response: flip(response)).client(retries=1) as initw:
        with pytest.raises(IntegrityError):
            initw.init_to_file(BODY, target)
    assert target.read_bytes() == b"the previous file" and list(tmp_path.iterdir()) == [target]


def test_an_artifact_without_repr_digest_cannot_be_verified(client: TestClient, sleeps: list[float]) -> None:
    def strip(attempt: int, response: httpx.Response) -> httpx.Response:
        headers = {k: v for k, v in response.headers.items() if k != "repr-digest"}
        return httpx.Response(response.status_code, headers=headers, content=response.content)

    with Proxy(client, strip).client(retries=0) as initw, pytest.raises(IntegrityError, match="no Repr-Digest"):
        initw.init(BODY)


# ----------------------------------------------------------------------------- retries


def test_503_with_retry_after_is_waited_out(client: TestClient, good: bytes, sleeps: list[float]) -> None:
    def busy(attempt: int, response: httpx.Response) -> httpx.Response:
        if attempt > 1:
            return response
        problem = {"type": "https://initw.dev/problems/busy", "title": "Service Unavailable", "status": 503,
                   "detail": "the memory budget is spent"}  # fmt: skip
        return httpx.Response(
            503, json=problem, headers={"Retry-After": "2", "Content-Type": "application/problem+json"}
        )

    proxy = Proxy(client, busy)
    with proxy.client() as initw:
        arrays = initw.init(BODY)
    assert sleeps == [2.0] and proxy.requests == 2
    assert arrays["orth"].tobytes() == tensors_of(good)["orth"][2]


def test_retry_after_is_capped(client: TestClient, sleeps: list[float]) -> None:
    def busy(attempt: int, response: httpx.Response) -> httpx.Response:
        return response if attempt > 1 else httpx.Response(503, headers={"Retry-After": "3600"}, text="busy")

    with Proxy(client, busy).client(max_wait=5.0) as initw:
        initw.health()
    assert sleeps == [5.0]


@pytest.mark.parametrize("status", [408, 429, 502, 504])
def test_other_transient_statuses_are_retried(client: TestClient, sleeps: list[float], status: int) -> None:
    proxy = Proxy(client, lambda attempt, response: response if attempt > 2 else httpx.Response(status, text="later"))
    with proxy.client() as initw:
        assert initw.health() == {"status": "ok"}
    assert proxy.requests == 3 and len(sleeps) == 2


def test_422_is_a_problem_with_the_field_path_and_is_not_retried(client: TestClient, sleeps: list[float]) -> None:
    proxy = Proxy(client)
    with proxy.client() as initw, pytest.raises(ProblemError) as caught:
        initw.init(INVALID)
    problem = caught.value
    assert (problem.status, problem.title, problem.type) == (422, "Unprocessable Entity",
                                                              "https://initw.dev/problems/invalid-request")  # fmt: skip
    assert problem.fields == ["scheme.std"] and problem.errors[0]["allowed"] == "> 0.0"
    assert "greater than 0" in problem.detail and "scheme.std" in str(problem)
    assert proxy.requests == 1 and problem.attempts == 1 and sleeps == []


@pytest.mark.parametrize("status", [400, 404, 413, 500])
def test_other_errors_are_not_retried(client: TestClient, sleeps: list[float], status: int) -> None:
    proxy = Proxy(client, lambda attempt, response: httpx.Response(status, text="no"))
    with proxy.client() as initw, pytest.raises(ProblemError) as caught:
        initw.init(BODY)
    assert caught.value.status == status and caught.value.detail == "no" and proxy.requests == 1 and sleeps == []


def test_an_unreachable_server_is_a_network_error(sleeps: list[float]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with Client("http://initw.test", transport=httpx.MockTransport(refuse), retries=2) as initw:
        assert initw.ready() is False and sleeps == []  # readiness is asked once
        with pytest.raises(NetworkError, match="ConnectError") as caught:
            initw.schemes()
    assert isinstance(caught.value, ClientError) and caught.value.attempts == 3 and len(sleeps) == 2


def test_ready_is_false_while_warming_up() -> None:
    def warming(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"title": "Service Unavailable", "detail": "warming up"},
                              headers={"Retry-After": "1"})  # fmt: skip

    with Client("http://initw.test", transport=httpx.MockTransport(warming)) as initw:
        assert initw.ready() is False
