"""service.client against the in-process app (an httpx.MockTransport that forwards to Starlette's
TestClient), with faults injected between the two: corrupt and short bodies, broken streams, 503
with Retry-After, 4xx that must not be retried, an unreachable server, answers lost after the
server acted (a POST /pretrain, a DELETE). Pre-training jobs run in an app of their own whose job
directory is the test's tmp_path."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import time
import warnings
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
from service.app import create_app
from service.client import (
    Client,
    ClientError,
    InitwWarning,
    IntegrityError,
    JobError,
    JobState,
    JobTimeout,
    NetworkError,
    ProblemError,
    to_arrays,
)
from service.jobs import JobStore
from service.settings import Settings

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
STACK: dict[str, Any] = {"seed": 3, "input_width": 16, "batch": 32,
                         "layers": [{"width": 16, "activation": "tanh", "repeat": 3}]}  # fmt: skip
NETWORK = {**STACK, "layers": [{**STACK["layers"][0], "scheme": "orthogonal"}]}  # LSUV's stack, plain orthogonal
ROWS = np.random.default_rng(0).uniform(0.0, 1.0, (20, 8)).astype(np.float32)  # 20 rows of 8 features
PRETRAIN: dict[str, Any] = {"seed": 0, "input_width": 8, "layers": [{"width": 4}], "epochs": 2,
                            "data": base64.b64encode(safetensors.numpy.save({"data": ROWS})).decode()}  # fmt: skip
SVG = {"accept": "image/svg+xml"}
JOB_DEADLINE = 120.0  # seconds for a tiny job to reach a state: only a hang takes longer, even on a loaded machine
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


@pytest.fixture
def jobs(tmp_path: Path) -> Iterator[tuple[TestClient, JobStore]]:
    """An app of its own for pre-training jobs, its job directory in tmp_path; and its job store."""
    app = create_app(Settings(job_dir=str(tmp_path / "jobs"), job_seconds=60.0))
    with TestClient(app) as client:
        yield client, app.state.jobs


def lose_first(attempt: int, response: httpx.Response) -> httpx.Response:
    """The server acted on the first request, but its answer never arrives."""
    if attempt == 1:
        raise httpx.ReadError("connection reset by peer")
    return response


def only_artifacts(tamper: Callable[[httpx.Response], httpx.Response]) -> Tamper:
    return lambda attempt, r: tamper(r) if r.headers.get("content-type") == "application/octet-stream" else r


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


def test_presets_and_one_preset(client: TestClient) -> None:
    """presets() is GET /presets, preset(name) GET /presets/{name}; an unknown one is a 404 problem."""
    with Proxy(client).client() as initw:
        listed = initw.presets()
        assert listed == client.get("/presets").json()["presets"]
        assert initw.preset("gpt2") == next(p for p in listed if p["name"] == "gpt2")
        with pytest.raises(ProblemError) as unknown:
            initw.preset("gpt3")
    assert unknown.value.status == 404


def test_schemes_of_a_dialect_and_one_word(client: TestClient) -> None:
    """schemes(dialect) is GET /schemes?dialect=; scheme(name) is GET /schemes/{name}, words included."""
    with Proxy(client).client() as initw:
        assert initw.schemes() == initw.schemes("initw") == client.get("/schemes").json()["schemes"]
        for dialect in ("torch", "keras", "jax", "flax"):
            words = initw.schemes(dialect)
            assert words == client.get("/schemes", params={"dialect": dialect}).json()["schemes"]
            assert {w["dialect"] for w in words} == {dialect}
        word = initw.scheme("keras.HeNormal")
        assert word == next(w for w in initw.schemes("keras") if w["name"] == "keras.HeNormal")
        assert word["framework"] == "keras.initializers.HeNormal()"
        assert initw.scheme("he_normal")["name"] == "kaiming_normal"  # an alias resolves
        assert initw.scheme("jax.kaiming_normal")["name"] == "jax.he_normal"
        with pytest.raises(ProblemError) as unknown:
            initw.scheme("keras.HeNormall")
        assert unknown.value.status == 404 and unknown.value.attempts == 1
        with pytest.raises(ProblemError) as refused:
            initw.schemes("tensorflow")
        assert refused.value.status == 422 and refused.value.fields == ["dialect"]


# Two unqualified names a keras layout's framework reads otherwise: two Initw-Warning headers.
WARNED: dict[str, Any] = {
    "seed": 1,
    "layout": "keras",
    "tensors": [
        {"name": "conv", "shape": [3, 3, 16, 32], "scheme": "he_normal"},
        {"name": "dense", "shape": [32, 8], "scheme": {"name": "variance_scaling", "distribution": "normal"}},
        {"name": "bias", "shape": [8], "scheme": "zeros"},
    ],
}


def test_the_services_warnings_are_issued_and_kept(client: TestClient, tmp_path: Path) -> None:
    """Each Initw-Warning header (its text holds commas: one header, one warning) is issued as an
    InitwWarning by init, get_init and init_to_file, and kept in the Download; the bytes are the
    file's, and the dialect forms the warnings suggest are served without one."""
    answer = client.post("/init", json=WARNED)
    expected = answer.headers.get_list("initw-warning")
    assert [w.split(":")[0] for w in expected] == ["tensors.0.scheme", "tensors.1.scheme"]
    assert all("," in w for w in expected)
    with Proxy(client).client() as initw:
        with pytest.warns(InitwWarning) as issued:
            arrays = initw.init(WARNED)
        assert [str(w.message) for w in issued] == expected
        assert issued[0].filename == __file__  # attributed to the caller
        assert {n: a.tobytes() for n, a in arrays.items()} == {n: t[2] for n, t in tensors_of(answer.content).items()}

        with pytest.warns(InitwWarning) as issued:
            done = initw.init_to_file(WARNED, tmp_path / "w.safetensors")
        assert done.warnings == tuple(expected) and [str(w.message) for w in issued] == expected
        assert (tmp_path / "w.safetensors").read_bytes() == answer.content and issued[0].filename == __file__

        with pytest.warns(InitwWarning) as issued:
            initw.get_init([3, 3, 16, 32], "he_normal", seed=1, layout="keras")
        assert [str(w.message) for w in issued] == ["scheme" + expected[0].removeprefix("tensors.0.scheme")]

        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing to warn about: the framework's meaning, or initw's, asked for
            for body in ({**WARNED, "dialect": "keras"}, {**WARNED, "dialect": "initw"}):
                assert initw.init_to_file(body, tmp_path / "quiet.safetensors").warnings == ()
            quiet = initw.init({**WARNED, "dialect": "initw"})
            initw.get_init([3, 3, 16, 32], "keras.he_normal", seed=1, layout="keras")
    assert {n: a.tobytes() for n, a in quiet.items()} == {n: a.tobytes() for n, a in arrays.items()}


def test_get_init_sends_axes_lists_comma_separated(client: TestClient) -> None:
    with Proxy(client).client() as initw:
        got = initw.get_init([2, 3, 16, 8], "variance_scaling", seed=5, dialect="jax", scale=2.0, mode="fan_avg",
                             distribution="normal", batch_axis=[0, 1])  # fmt: skip
        posted = initw.init({"seed": 5, "dialect": "jax", "shape": [2, 3, 16, 8],
                             "scheme": {"name": "variance_scaling", "scale": 2.0, "mode": "fan_avg",
                                        "distribution": "normal", "batch_axis": [0, 1]}})  # fmt: skip
        one = initw.get_init([2, 3, 16, 8], "jax.he_normal", seed=5, batch_axis=(0,), in_axis=1, out_axis=[2, 3])
    assert got["weight"].tobytes() == posted["weight"].tobytes()
    assert one["weight"].shape == (2, 3, 16, 8)


def test_network_report_and_plot(client: TestClient) -> None:
    with Proxy(client).client() as initw:
        report = initw.network(NETWORK)
        plot = initw.network(NETWORK, svg=True)
        version = initw.version()
    assert report == client.post("/diagnostics/network", json=NETWORK).json() and len(report["layers"]) == 3
    assert plot == client.post("/diagnostics/network", json=NETWORK, headers=SVG).text and plot.startswith("<svg")
    assert version == client.get("/version").json() and version["algorithm"] == "initw-v1"


def test_histogram_is_one_tensors_svg(client: TestClient) -> None:
    with Proxy(client).client() as initw:
        plot = initw.histogram(BODY, "trunc")
        with pytest.raises(ProblemError) as caught:
            initw.histogram(BODY)  # four tensors: which one?
    assert plot == client.post("/diagnostics?tensor=trunc", json=BODY, headers=SVG).text and "<svg" in plot
    assert caught.value.status == 422 and caught.value.fields == ["tensor"]


def test_lsuv_and_lsuv_to_file_are_the_verified_file(client: TestClient, tmp_path: Path) -> None:
    served = client.post("/init/lsuv", json=STACK).content
    with Proxy(client).client() as initw:
        arrays = initw.lsuv(STACK)
        done = initw.lsuv_to_file(STACK, tmp_path / "lsuv.safetensors")
    stock = safetensors.numpy.load(served)
    assert list(arrays) == sorted(stock) == ["layers.0.weight", "layers.1.weight", "layers.2.weight"]
    assert all(arrays[name].tobytes() == stock[name].tobytes() for name in stock)
    assert (tmp_path / "lsuv.safetensors").read_bytes() == served and list(tmp_path.iterdir()) == [done.path]
    assert done.sha256 == hashlib.sha256(served).hexdigest() and done.etag and done.attempts == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda initw: initw.network(NETWORK),
        lambda initw: initw.network(NETWORK, svg=True),
        lambda initw: initw.histogram(BODY, "orth"),
        lambda initw: initw.lsuv(STACK),
        lambda initw: initw.version(),
    ],
    ids=["network", "network-svg", "histogram", "lsuv", "version"],
)
def test_the_deterministic_calls_are_retried(
    client: TestClient, sleeps: list[float], call: Callable[[Client], Any]
) -> None:
    busy = httpx.Response(503, headers={"Retry-After": "1"}, text="busy")
    proxy = Proxy(client, lambda attempt, response: response if attempt > 1 else busy)
    with proxy.client() as initw:
        assert call(initw)
    assert proxy.requests == 2 and sleeps == [1.0]


def test_a_corrupt_lsuv_file_is_an_integrity_error(client: TestClient, sleeps: list[float], tmp_path: Path) -> None:
    with Proxy(client, lambda attempt, response: flip(response)).client(retries=1) as initw:
        with pytest.raises(IntegrityError, match="Repr-Digest"):
            initw.lsuv(STACK)
        with pytest.raises(IntegrityError, match="Repr-Digest"):
            initw.lsuv_to_file(STACK, tmp_path / "lsuv.safetensors")
    assert list(tmp_path.iterdir()) == []


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


# ----------------------------------------------------------------------------- pre-training jobs


def test_a_job_is_started_waited_for_and_downloaded(jobs: tuple[TestClient, JobStore], tmp_path: Path) -> None:
    app, _ = jobs
    with Proxy(app).client() as initw:
        started = initw.pretrain(PRETRAIN)
        assert started.status in ("queued", "running", "done") and len(started.id) == 32
        done = initw.wait(started.id, timeout=JOB_DEADLINE, poll=0.01)
        assert done.status == "done" and done.artifact is not None and done.finished is not None
        assert done.progress is not None and done.progress["fraction"] == 1.0 and done == initw.job(started.id)
        assert initw.pretrain(PRETRAIN).created == started.created  # found again, not started again
        arrays = initw.job_artifact(started.id)
        saved = initw.job_artifact_to_file(started.id, tmp_path / "pretrained.safetensors")
    served = app.get(f"/pretrain/{started.id}/artifact").content
    assert {name: a.shape for name, a in arrays.items()} == {"layers.0.bias": (4,), "layers.0.weight": (4, 8)}
    assert all(a.tobytes() == b.tobytes() for a, b in zip(arrays.values(), to_arrays(served).values(), strict=True))
    assert saved.path.read_bytes() == served and saved.sha256 == done.artifact["sha256"]
    assert saved.size == done.artifact["size"] and saved.etag == done.artifact["etag"]


def test_a_retried_pretrain_finds_the_job_its_lost_attempt_created(
    jobs: tuple[TestClient, JobStore], sleeps: list[float]
) -> None:
    app, store = jobs
    proxy = Proxy(app, lose_first)
    with store.paused(), proxy.client() as initw:
        state = initw.pretrain(PRETRAIN)  # the first POST created the job; its answer was lost
        assert proxy.requests == 2 and len(sleeps) == 1
        jobs = [p.name for p in store.directory.iterdir() if p.is_dir() and p.name != "tokens"]
        assert jobs == [store.resolve(state.id)]  # one job, not two
        assert state.status in ("queued", "running") and initw.job(state.id).created == state.created
        # both attempts carried one Idempotency-Key: one token, none orphaned, so a delete cancels the job
        assert [p.name for p in (store.directory / "tokens").iterdir()] == [state.id]
        initw.cancel(state.id)
    store.wait(jobs[0], timeout=60)
    assert store.view(jobs[0])["status"] == "cancelled"


def test_wait_times_out_cleanly_while_the_job_runs(
    jobs: tuple[TestClient, JobStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, store = jobs
    now = [1000.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(client_module, "_sleep", sleep)
    monkeypatch.setattr(client_module, "_clock", lambda: now[0])
    proxy = Proxy(app)
    with store.paused(), proxy.client() as initw:
        job = initw.pretrain(PRETRAIN).id
        with pytest.raises(JobTimeout, match="still") as caught:
            initw.wait(job, timeout=2.0, poll=0.75)
        assert isinstance(caught.value, JobError) and caught.value.state.status in ("queued", "running")
        assert waits == [0.75, 0.75, 0.5] and proxy.requests == 1 + 4  # the POST, then a GET per look
        with pytest.raises(JobError, match="its artifact exists once it is done") as early:
            initw.job_artifact(job)
        assert not isinstance(early.value, JobTimeout) and early.value.state.artifact is None


def running(initw: Client, job: str) -> JobState:
    """The job's state once it runs (held by store.paused() at its first minibatch)."""
    deadline = time.monotonic() + JOB_DEADLINE
    while (state := initw.job(job)).status != "running":
        assert time.monotonic() < deadline, f"job {job} never ran: {state}"
        time.sleep(0.01)  # the polling interval
    return state


def test_cancel_forgets_the_token_and_a_lost_delete_is_retried_safely(
    jobs: tuple[TestClient, JobStore], sleeps: list[float]
) -> None:
    app, store = jobs
    with Proxy(app).client() as initw:
        with store.paused():
            token = initw.pretrain(PRETRAIN).id
            running(initw, token)
            job = store.resolve(token)
            proxy = Proxy(app, lose_first)
            with proxy.client() as lossy:
                lossy.cancel(token)  # the lost DELETE forgot the token; its retry's 404 counts as done
            assert proxy.requests == 2 and sleeps == [sleeps[0]]  # the DELETE's retry
        store.wait(job, timeout=JOB_DEADLINE)  # the run, which no token names, stops at its next minibatch
        state = store.view(job)
        assert state is not None and state["status"] == "cancelled" and state["reason"] == "cancelled while it ran"
        with pytest.raises(ProblemError) as gone:
            initw.job(token)
        assert gone.value.status == 404
        with pytest.raises(ProblemError) as unknown:
            initw.cancel(token)  # a first attempt's 404 is an error: no such job here (any more)
        assert unknown.value.status == 404 and unknown.value.attempts == 1


def test_a_corrupt_job_artifact_fails_against_the_jobs_digest(
    jobs: tuple[TestClient, JobStore], sleeps: list[float], tmp_path: Path
) -> None:
    app, store = jobs
    with Proxy(app).client() as initw:
        started = initw.pretrain(PRETRAIN)
        store.wait(store.resolve(started.id), timeout=JOB_DEADLINE)
        job = initw.wait(started.id)
    assert job.artifact is not None and sleeps == []  # done at the first look
    target = tmp_path / "pretrained.safetensors"
    with Proxy(app, only_artifacts(flip)).client(retries=1) as initw:
        # The server's Repr-Digest or, without one, the job state's digest catches it.
        caught_by = f"corrupted on the way|{job.artifact['sha256']} was expected"
        with pytest.raises(IntegrityError, match=caught_by) as caught:
            initw.job_artifact(job.id)
        assert caught.value.attempts == 2
        with pytest.raises(IntegrityError, match="corrupted on the way|was expected"):
            initw.job_artifact_to_file(job.id, target)
    assert not target.exists() and not list(tmp_path.glob(".pretrained*"))


def test_checkpoint_writes_verified_shards_and_the_index(client: TestClient, tmp_path: Path) -> None:
    from service.core.checkpoint import checkpoint
    from service.spec.request import InitRequest, to_request

    split = checkpoint(to_request(InitRequest.model_validate(BODY)), 1000)  # 512 + 512 + 512 + 216 bytes
    assert split.count == 3
    with Proxy(client).client() as initw:
        done = initw.checkpoint(BODY, "1KB", tmp_path / "all")
        assert initw.checkpoint_index(BODY, 1000) == done.index == json.loads(split.index_bytes())
        part = initw.checkpoint(BODY, 1000, tmp_path / "part", shards=[2], index=False)
        with pytest.raises(ValueError, match="shards 1 to 3"):
            initw.checkpoint(BODY, 1000, tmp_path / "none", shards=[4])
    assert done.shards == part.shards == 3
    assert [f.path.name for f in done.files] == [*split.files, "model.safetensors.index.json"]
    for k, name in enumerate(split.files, start=1):
        assert (tmp_path / "all" / name).read_bytes() == split.shard(k).to_bytes()
    assert (tmp_path / "all" / "model.safetensors.index.json").read_bytes() == split.index_bytes()
    assert sorted(p.name for p in (tmp_path / "part").iterdir()) == [split.files[1]]
    assert (tmp_path / "part" / split.files[1]).read_bytes() == split.shard(2).to_bytes()
    assert all(f.sha256 == hashlib.sha256(f.path.read_bytes()).hexdigest() for f in done.files)


def test_a_corrupt_shard_raises_and_leaves_no_file(client: TestClient, tmp_path: Path, sleeps: list[float]) -> None:
    with Proxy(client, only_artifacts(flip)).client(retries=1) as initw, pytest.raises(IntegrityError):
        initw.checkpoint(BODY, 1000, tmp_path)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- progress, throttled


def _chunked(chunks: list[bytes], length: bool = True) -> httpx.MockTransport:
    """An artifact answer streamed in ``chunks`` as they are (with or without its Content-Length)."""
    blob = b"".join(chunks)
    headers = {"repr-digest": f"sha-256=:{base64.b64encode(hashlib.sha256(blob).digest()).decode()}:"}
    if length:
        headers["content-length"] = str(len(blob))
    return httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, content=iter(chunks)))


def _progress_calls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, chunks: list[bytes], tick: float, length: bool = True
) -> list[tuple[int, int | None, float]]:
    """The calls of ``progress`` (received, total, at) for a body in ``chunks``, on a clock that
    moves ``tick`` seconds each time it is read: no sleeps, the same calls on any machine."""
    ticks = iter(range(10**9))
    now = [0.0]

    def clock() -> float:
        now[0] = next(ticks) * tick
        return now[0]

    monkeypatch.setattr(client_module, "_clock", clock)
    calls: list[tuple[int, int | None, float]] = []
    with Client("http://initw.test", transport=_chunked(chunks, length)) as initw:
        done = initw.init_to_file(
            {}, tmp_path / "w.safetensors", progress=lambda got, total: calls.append((got, total, now[0]))
        )
    assert done.size == sum(map(len, chunks))
    return calls


def test_progress_is_called_at_most_ten_times_a_second(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert client_module.PROGRESS_INTERVAL == 0.1
    monkeypatch.setattr(client_module, "PROGRESS_INTERVAL", 1 / 8)  # binary fractions: the fake clock adds up exactly
    chunks = [bytes(1000)] * 2000  # a chunk every 1/1024 s: 1% is 20 chunks, the interval 128
    calls = _progress_calls(monkeypatch, tmp_path, chunks, tick=1 / 1024)
    assert [got for got, _, _ in calls] == [20_000, *range(148_000, 2_000_000, 128_000), 2_000_000]
    assert all(later[2] - earlier[2] >= 1 / 8 for earlier, later in itertools.pairwise(calls[:-1]))
    assert {total for _, total, _ in calls} == {2_000_000}


def test_progress_is_called_at_most_every_percent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    chunks = [bytes(100)] * 5000  # a slow link: a second per chunk, so only the 1% step holds calls back
    calls = _progress_calls(monkeypatch, tmp_path, chunks, tick=1.0)
    assert [got for got, _, _ in calls] == list(range(5_000, 500_001, 5_000))  # 100 calls, the last at the end


def test_progress_always_reports_the_complete_body(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = _progress_calls(monkeypatch, tmp_path, [b"a" * 10, b"b" * 10, b"c" * 10], tick=0.0)  # a frozen clock
    assert [(got, total) for got, total, _ in calls] == [(10, 30), (30, 30)]  # the first chunk, then the end
    monkeypatch.setattr(client_module, "PROGRESS_INTERVAL", 1 / 8)
    unknown = _progress_calls(monkeypatch, tmp_path, [b"a" * 10] * 50, tick=1 / 32, length=False)
    assert [got for got, _, _ in unknown] == [10, *range(50, 500, 40), 500]  # without a total: by time alone
    assert {total for _, total, _ in unknown} == {None}
