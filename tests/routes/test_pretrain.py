"""The pre-training job API in process: POST /pretrain, GET /pretrain/{id}[/artifact], DELETE.

Each test gets its own job directory and store. Waiting is on the store's future (``wait``) or,
for states reached mid-run, on GET in a loop with a deadline; a job held by ``paused()`` stays
running (at its first minibatch) until the block ends.
"""

import base64
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from safetensors.numpy import load, save
from starlette.testclient import TestClient

from service.app import create_app
from service.core.read import read
from service.jobs import LOST
from service.settings import Settings

DEADLINE = 30.0


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    return (datasets.load_digits().data / 16.0).astype(np.float32)


def upload(x):
    return base64.b64encode(save({"data": np.ascontiguousarray(x)})).decode()


def body(x, **changes):
    request = {"seed": 0, "input_width": x.shape[1], "layers": [{"width": 16}, {"width": 8, "activation": "tanh"}],
               "data": upload(x), "epochs": 2, "learning_rate": 0.01}  # fmt: skip
    return {**request, **changes}


@contextlib.contextmanager
def served(tmp_path, limits=None, **store):
    """The app with its job store in ``tmp_path`` (made by the lifespan, as in the service)."""
    store = {"seconds": 60.0, "ttl_seconds": 3600.0, "queue": 4, **store}
    settings = Settings(pretrain_budget=1e10, job_dir=str(tmp_path / "jobs"), job_seconds=store["seconds"],
                        job_ttl_seconds=store["ttl_seconds"], job_queue=store["queue"], **(limits or {}))  # fmt: skip
    app = create_app(settings)
    with TestClient(app) as client:
        yield client, app.state.jobs


@pytest.fixture
def api(tmp_path):
    with served(tmp_path) as pair:
        yield pair


def until(client, url, condition):
    """GET url until condition(state) holds, for at most DEADLINE seconds."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        state = client.get(url).json()
        if condition(state):
            return state
        time.sleep(0.005)
    raise AssertionError(f"{url} never reached the state: last {state}")


def finished(client, store, response):
    token = response.json()["id"]
    store.wait(store.resolve(token), timeout=DEADLINE)
    return client.get(f"/pretrain/{token}").json()


def test_a_job_runs_reports_progress_and_serves_its_artifact(api, digits):
    client, store = api
    request = body(digits, layers=[{"width": 32}, {"width": 16}], epochs=5)
    with store.paused():
        r = client.post("/pretrain", json=request)
        assert r.status_code == 202, r.text
        job = r.json()["id"]
        assert r.headers["location"] == f"/pretrain/{job}" and len(job) == 32
        assert job != store.resolve(job)  # the client's token, not the request's hash
        running = until(client, f"/pretrain/{job}", lambda s: s["status"] == "running" and s["progress"])
        assert running["progress"]["layer"] == 0 and running["progress"]["epoch"] == 0
        assert running["progress"]["layers"] == 2 and running["progress"]["epochs"] == 5
        assert running["started"] and "pid" not in running and "pid_start" not in running  # nothing of the host
        early = client.get(f"/pretrain/{job}/artifact")
        assert early.status_code == 409 and early.headers["content-type"] == "application/problem+json"
        assert "running" in early.json()["detail"]
    store.wait(store.resolve(job), timeout=DEADLINE)
    state = client.get(f"/pretrain/{job}").json()
    assert state["status"] == "done" and state["finished"] and state["progress"]["fraction"] == 1.0
    losses = state["progress"]["losses"]
    assert [len(curve) for curve in losses] == [6, 6]
    assert all(curve[-1] < 0.1 * curve[0] for curve in losses)  # measured 0.041x and 0.017x

    r = client.get(f"/pretrain/{job}/artifact")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert r.headers["etag"] == state["artifact"]["etag"] and len(r.content) == state["artifact"]["size"]
    digest = hashlib.sha256(r.content).digest()
    assert r.headers["repr-digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"  # as every artifact
    tensors = load(r.content)
    assert {name: t.shape for name, t in tensors.items()} == {
        "layers.0.weight": (32, 64), "layers.0.bias": (32,), "layers.1.weight": (16, 32), "layers.1.bias": (16,)
    }  # fmt: skip
    assert all(t.dtype == np.float32 for t in tensors.values())
    _, metadata = read(r.content)
    assert metadata["algorithm"] == "initw-v1" and metadata["seed"] == "0"
    assert json.loads(metadata["pretrain"])["losses"] == losses
    described = json.loads(metadata["request"])
    assert described["procedure"] == "pretrain" and "data" not in json.dumps(described["request"]["layers"])
    assert len(described["request"]["data"]["sha256"]) == 64
    assert client.get(f"/pretrain/{job}/artifact", headers={"if-none-match": r.headers["etag"]}).status_code == 304

    again = client.post("/pretrain", json=request)  # idempotent: the same job, already done
    assert again.status_code == 200 and again.json()["finished"] == state["finished"]
    assert again.json()["id"] != job and store.resolve(again.json()["id"]) == store.resolve(job)  # shared, not given


def _best_offset_losses(layers, x):
    """Per layer, plain numpy: the MSE of a tied autoencoder (linear decoder W^T) with the best
    constant decoder bias, c = column means of h - phi(h W^T + b) W, on the codes of the layers before."""
    out, h = [], x.astype(np.float64)
    for w, b, phi in layers:
        a = h @ w.T + b
        d = phi(a) @ w
        r = d + (h - d).mean(axis=0) - h
        out.append(float((r * r).mean()))
        h = phi(a)
    return out


def test_the_reported_losses_can_be_reproduced_from_the_file_and_set_beside_a_fair_baseline(api, digits):
    """Issue 14.5: the training curve uses the decoder bias as trained (not in the file), and its
    epoch 0 has that bias at 0. The state adds, for the file's weights on the file's own codes and
    for the initial weights, the loss with the best decoder bias: one rule at both ends."""
    client, store = api
    request = body(digits, layers=[{"width": 32}, {"width": 16, "activation": "tanh"}], epochs=5)
    state = finished(client, store, client.post("/pretrain", json=request))
    progress = state["progress"]
    tensors = load(client.get(f"/pretrain/{state['id']}/artifact").content)
    sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    stored = [(tensors[f"layers.{i}.weight"].astype(np.float64), tensors[f"layers.{i}.bias"].astype(np.float64), phi)
              for i, phi in enumerate((sigmoid, np.tanh))]  # fmt: skip
    assert progress["file_losses"] == pytest.approx(_best_offset_losses(stored, digits), rel=1e-9)
    initial = client.post("/init", json={"seed": 0, "dtype": "float64", "tensors": [
        {"name": "layers.0.weight", "shape": [32, 64], "scheme": "xavier_uniform"},
        {"name": "layers.0.bias", "shape": [32], "scheme": "zeros"}]})  # fmt: skip  # the bytes training starts from
    assert initial.status_code == 200, initial.text
    first = load(initial.content)
    baseline = _best_offset_losses([(first["layers.0.weight"], first["layers.0.bias"], sigmoid)], digits)[0]
    assert progress["baselines"][0] == pytest.approx(baseline, rel=1e-9)
    for curve, fair, final in zip(progress["losses"], progress["baselines"], progress["file_losses"], strict=True):
        assert fair <= curve[0]  # the best decoder bias does at least as well as c = 0
        assert final < fair  # training gained, measured fairly
    # the gain the curve suggests against the gain one rule measures (the second is the smaller)
    assert progress["losses"][0][0] / progress["losses"][0][-1] > progress["baselines"][0] / progress["file_losses"][0]


def test_the_same_request_gives_the_same_bytes_in_another_store(tmp_path, digits):
    files = []
    for where, seed in (("a", 0), ("b", 0), ("c", 1)):
        with served(tmp_path / where) as (client, store):
            r = client.post("/pretrain", json=body(digits[:400], seed=seed))
            assert finished(client, store, r)["status"] == "done"
            files.append(client.get(f"/pretrain/{r.json()['id']}/artifact").content)
    assert files[0] == files[1]
    assert files[0] != files[2]


def test_unknown_jobs_are_404_problems(api):
    client, _ = api
    for method, url in (("GET", "/pretrain/" + "0" * 32), ("GET", "/pretrain/" + "0" * 32 + "/artifact"),
                        ("DELETE", "/pretrain/" + "0" * 32), ("GET", "/pretrain/..%2F..%2Fetc"),
                        ("GET", "/pretrain/not-an-id/artifact")):  # fmt: skip
        r = client.request(method, url)
        assert r.status_code == 404, (method, url, r.text)
        assert r.headers["content-type"] == "application/problem+json"


def test_a_stack_over_budget_is_refused_before_it_is_queued(api):
    client, store = api
    x = np.zeros((2, 4096), np.float32)
    request = {"input_width": 4096, "layers": [{"width": 4096}], "data": upload(x), "epochs": 200}
    r = client.post("/pretrain", json=request)
    assert r.status_code == 413 and r.json()["type"].endswith("/over-budget")
    assert "INITW_PRETRAIN_BUDGET" in r.json()["detail"]
    assert not store.directory.exists() or not any(path.is_dir() for path in store.directory.iterdir())  # no job


def test_a_job_over_the_file_cap_or_the_memory_budget_is_refused_before_it_starts_saying_by_how_much(tmp_path, digits):
    limits = {"job_artifact_bytes": 4096, "memory_budget_bytes": 1 << 20}
    with served(tmp_path, limits) as (client, store):
        big_file = client.post("/pretrain", json=body(digits, layers=[{"width": 16}]))  # 1,040 values: 4,160 bytes
        assert big_file.status_code == 413 and big_file.json()["type"].endswith("/artifact-too-large")
        assert "(4,160 bytes), 64 bytes more than INITW_JOB_ARTIFACT_BYTES (4,096)" in big_file.json()["detail"]
        big_job = client.post("/pretrain", json=body(digits, layers=[{"width": 8}]))  # a small file, 1,797 rows
        assert big_job.status_code == 413 and big_job.json()["type"].endswith("/over-budget")
        assert "more than the worker's whole memory budget" in big_job.json()["detail"]
        assert not store.directory.exists() or not any(path.is_dir() for path in store.directory.iterdir())


def test_a_job_whose_file_would_not_fit_the_directory_quota_beside_running_ones_is_a_503(tmp_path, digits):
    with served(tmp_path, {"job_dir_bytes": 1 << 20}) as (client, store), store.paused():
        first = client.post("/pretrain", json=body(digits[:300], layers=[{"width": 512}]))  # ~130 KiB of file
        assert first.status_code == 202
        until(client, f"/pretrain/{first.json()['id']}", lambda s: s["status"] == "running")
        crowded = client.post("/pretrain", json=body(digits[:300], layers=[{"width": 4096}]))  # ~1 MiB more
        assert crowded.status_code == 503 and crowded.json()["type"].endswith("/storage-full")
        assert "INITW_JOB_DIR_BYTES" in crowded.json()["detail"] and int(crowded.headers["retry-after"]) >= 1


def test_a_running_job_holds_its_share_of_the_memory_budget_and_gives_it_back(api, digits):
    from service.analysis.pretrain import memory

    client, store = api
    request = body(digits[:200], layers=[{"width": 16}])
    r = client.post("/pretrain", json=request)
    assert finished(client, store, r)["status"] == "done"
    budget = client.app.state.budget
    assert budget.peak >= memory(200, [64, 16], request.get("batch_size", 32), 4) and budget.in_use == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data": "not base64!"}, "data"),
        ({"data": base64.b64encode(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ").decode()}, "data"),
        ({"data": upload(np.zeros((10, 7), np.float32))}, "data"),
        ({"data": upload(np.zeros((1, 64), np.float32))}, "data"),
        ({"data": upload(np.full((4, 64), np.nan, np.float32))}, "data"),
        ({"epochs": 0}, "epochs"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"layers": [{"width": 8, "activation": "softmax"}]}, "layers.0.activation"),
        ({"layers": [{"width": 8, "scheme": {"name": "uniform", "a": 1.0, "b": 0.0}}]}, "layers.0.scheme"),
        ({"momentum": 0.9}, "momentum"),
    ],
)
def test_bad_requests_are_422_problems_naming_the_field(api, digits, change, field):
    client, _ = api
    r = client.post("/pretrain", json=body(digits[:10], **change))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"].startswith(field)


def test_a_running_job_is_cancelled_by_its_delete_and_can_be_started_again(api, digits):
    """DELETE forgets the token at once (GET, the artifact and a second DELETE answer 404, as for any
    deleted resource) and stops the run no other token names; posting the request again starts anew."""
    client, store = api
    request = body(digits[:300])
    with store.paused():
        token = client.post("/pretrain", json=request).json()["id"]
        until(client, f"/pretrain/{token}", lambda s: s["status"] == "running")
        job = store.resolve(token)
        assert client.delete(f"/pretrain/{token}").status_code == 204
        for method, path in (("GET", ""), ("GET", "/artifact"), ("DELETE", "")):
            assert client.request(method, f"/pretrain/{token}{path}").status_code == 404
    store.wait(job, timeout=DEADLINE)
    state = store.view(job)
    assert state is not None and state["status"] == "cancelled" and state["reason"] == "cancelled while it ran"
    r = client.post("/pretrain", json=request)
    assert r.status_code == 202 and r.json()["id"] != token  # a new token for a new run
    assert finished(client, store, r)["status"] == "done"


def test_clients_of_the_same_request_share_its_run_but_only_give_up_their_own_token(api, digits):
    """Knowing a request gives no handle on another client's job: each POST gets its own token; the
    run is cancelled only once every client has given it up, and the request's hash is no id."""
    client, store = api
    request = body(digits[:300])
    with store.paused():
        mine = client.post("/pretrain", json=request).json()["id"]
        until(client, f"/pretrain/{mine}", lambda s: s["status"] == "running")
        theirs = client.post("/pretrain", json=request)
        assert theirs.status_code == 202 and theirs.json()["status"] == "running"  # the same run, found
        theirs = theirs.json()["id"]
        assert theirs != mine and store.resolve(theirs) == store.resolve(mine)
        assert client.get(f"/pretrain/{store.resolve(mine)}").status_code == 404  # the hash names nothing
        assert client.delete(f"/pretrain/{store.resolve(mine)}").status_code == 404
        job = store.resolve(mine)
        assert client.delete(f"/pretrain/{theirs}").status_code == 204  # they give up ...
        assert client.get(f"/pretrain/{mine}").json()["status"] == "running"  # ... my run goes on
        assert client.get(f"/pretrain/{theirs}").status_code == 404  # their token is gone
        assert client.delete(f"/pretrain/{mine}").status_code == 204  # the last one: cancelled
    store.wait(job, timeout=DEADLINE)
    assert store.view(job)["status"] == "cancelled"


def test_a_finished_job_goes_with_the_last_token_that_names_it(api, digits):
    client, store = api
    request = body(digits[:200], epochs=1)
    first = client.post("/pretrain", json=request)
    assert finished(client, store, first)["status"] == "done"
    second = client.post("/pretrain", json=request).json()["id"]  # found done: a token of its own
    job = store.resolve(second)
    assert client.delete(f"/pretrain/{first.json()['id']}").status_code == 204
    assert client.get(f"/pretrain/{first.json()['id']}").status_code == 404  # that token is forgotten
    assert client.get(f"/pretrain/{second}/artifact").status_code == 200  # the job stays for the other
    assert client.delete(f"/pretrain/{second}").status_code == 204
    assert not (store.directory / job).exists()


OTHER_WORKER = r"""
import sys
from service.jobs import JobStore
store = JobStore(sys.argv[1])
print(store.view(store.resolve(sys.argv[2]))["status"], store.withdraw(sys.argv[2]))
"""


def test_another_worker_process_sees_the_job_and_can_cancel_it(api, digits):
    client, store = api
    with store.paused():
        token = client.post("/pretrain", json=body(digits[:300])).json()["id"]
        until(client, f"/pretrain/{token}", lambda s: s["status"] == "running")
        job = store.resolve(token)
        other = [sys.executable, "-c", OTHER_WORKER, str(store.directory), token]
        done = subprocess.run(other, capture_output=True, text=True, timeout=DEADLINE, check=True)
        assert done.stdout.split() == ["running", "True"]
    store.wait(job, timeout=DEADLINE)
    assert store.view(job)["status"] == "cancelled" and client.get(f"/pretrain/{token}").status_code == 404


def test_a_queued_job_is_cancelled_at_once_and_a_full_queue_answers_503(tmp_path, digits):
    with served(tmp_path, queue=1) as (client, store), store.paused():
        first = client.post("/pretrain", json=body(digits[:300])).json()["id"]
        until(client, f"/pretrain/{first}", lambda s: s["status"] == "running")
        second = client.post("/pretrain", json=body(digits[:300], seed=1))
        assert second.status_code == 202 and second.json()["status"] == "queued"
        full = client.post("/pretrain", json=body(digits[:300], seed=2))
        assert full.status_code == 503 and full.json()["type"].endswith("/busy")
        assert 1 <= int(full.headers["retry-after"]) <= 60 and "INITW_JOB_QUEUE" in full.json()["detail"]
        queued = store.resolve(second.json()["id"])
        assert client.delete(f"/pretrain/{second.json()['id']}").status_code == 204
        state = store.view(queued)
        assert state["status"] == "cancelled" and state["reason"] == "cancelled before it started"
        assert client.post("/pretrain", json=body(digits[:300], seed=2)).status_code == 202  # room again


def test_a_job_over_its_time_limit_fails_with_the_reason(tmp_path, digits):
    with served(tmp_path, seconds=1e-9) as (client, store):
        r = client.post("/pretrain", json=body(digits[:300]))
        state = finished(client, store, r)
        assert state["status"] == "failed"
        assert state["reason"].startswith("time limit: it ran longer than 1e-09 s (INITW_JOB_SECONDS)")
        assert "stopped at layer 0, epoch 1" in state["reason"]
        artifact = client.get(f"/pretrain/{state['id']}/artifact")
        assert artifact.status_code == 409 and "time limit" in artifact.json()["detail"]


def test_shutdown_fails_the_running_and_the_waiting_jobs(tmp_path, digits):
    with served(tmp_path) as (client, store):
        with store.paused():
            running = client.post("/pretrain", json=body(digits[:300])).json()["id"]
            until(client, f"/pretrain/{running}", lambda s: s["status"] == "running")
            waiting = client.post("/pretrain", json=body(digits[:300], seed=1)).json()["id"]
            store.shutdown()  # releases the pause: the running job stops at its check
        assert client.get(f"/pretrain/{running}").json()["reason"].startswith("the server shut down while it ran")
        assert client.get(f"/pretrain/{waiting}").json()["reason"] == "the server shut down before it ran"


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_job_whose_worker_process_died_reads_as_lost_and_starts_again(api, digits):
    client, store = api
    request = body(digits[:300])
    r = client.post("/pretrain", json=request)
    job = finished(client, store, r)["id"]
    path = store.directory / store.resolve(job) / "state.json"
    state = json.loads(path.read_text())
    for owner in ({"pid": dead_pid()}, {"pid": os.getpid(), "pid_start": "1"}):  # gone; a reused pid
        path.write_text(json.dumps({**state, **owner, "status": "running", "finished": None}))
        lost = client.get(f"/pretrain/{job}").json()
        assert lost["status"] == "failed" and lost["reason"] == LOST == "lost: the worker process that ran it stopped"
    assert client.get(f"/pretrain/{job}/artifact").status_code == 409
    again = client.post("/pretrain", json=request)
    assert again.status_code == 202 and again.json()["status"] == "queued"
    assert finished(client, store, again)["status"] == "done"


def fake_job(store, job, status, finished_ago, pid=1):
    where = store.directory / job
    where.mkdir(parents=True)
    stamp = (datetime.now(UTC) - timedelta(seconds=finished_ago)).isoformat()
    state = {"id": job, "status": status, "pid": pid, "pid_start": None,
             "finished": None if status in ("queued", "running") else stamp}  # fmt: skip
    (where / "state.json").write_text(json.dumps(state))


def test_finished_jobs_older_than_the_ttl_are_swept_on_post_and_at_startup(tmp_path, digits):
    with served(tmp_path, ttl_seconds=3600.0) as (client, store):
        fake_job(store, "a" * 32, "done", finished_ago=7200)
        fake_job(store, "b" * 32, "failed", finished_ago=60)
        fake_job(store, "c" * 32, "running", finished_ago=0)  # pid 1 is alive: never swept
        tokens = {job: store.issue(job * 32) for job in "abc"}
        client.post("/pretrain", json=body(digits[:10], epochs=1))
        assert client.get(f"/pretrain/{tokens['a']}").status_code == 404
        assert not (store.directory / "tokens" / tokens["a"]).exists()  # swept with its job
        assert client.get(f"/pretrain/{tokens['b']}").status_code == 200
        assert client.get(f"/pretrain/{tokens['c']}").json()["status"] == "running"
        fake_job(store, "d" * 32, "cancelled", finished_ago=7200)
        tokens["d"] = store.issue("d" * 32)
        store.sweep()
        assert client.get(f"/pretrain/{tokens['d']}").status_code == 404


def test_an_app_started_again_after_a_shutdown_takes_jobs_again(tmp_path, digits):
    app = create_app(Settings(pretrain_budget=1e10, job_dir=str(tmp_path / "jobs")))
    for seed in (1, 2):  # each start makes a fresh store; the first's shutdown closed its own
        with TestClient(app) as client:
            r = client.post("/pretrain", json=body(digits[:50], seed=seed, epochs=1))
            assert r.status_code in (200, 202), r.text
            until(client, r.headers["location"], lambda state: state["status"] == "done")
