"""The command line (service/cli.py): ``init``, ``diagnose`` and ``schemes``, run in process through
``python -m service``'s ``main`` against a real ``python -m service serve`` (tests/e2e/servers.py), and
once as a subprocess. ``--local`` and a server write byte-identical files whose SHA-256 is POST /init's;
invalid input exits 2 naming the service's field paths, an unreachable server 3, a corrupt download 4."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from service import cli
from service.__main__ import main
from service.core.catalogue import catalogue, dialect_catalogue
from service.core.registry import REGISTRY
from tests.e2e.servers import ROOT, Server, free_port, serving

BODY: dict[str, Any] = {
    "seed": 11,
    "dtype": "bfloat16",
    "layout": "keras",
    "tensors": [
        {"name": "conv", "shape": [3, 3, 16, 32], "scheme": {"name": "kaiming_uniform", "mode": "fan_out"}},
        {"name": "orth", "shape": [48, 32], "scheme": {"name": "orthogonal", "gain": 1.5}, "dtype": "float64"},
        {"name": "emb", "shape": [50, 8], "scheme": {"name": "normal", "std": 0.02}, "dtype": "float16"},
    ],
    "layers": [{"type": "linear", "name": "fc", "in_features": 20, "out_features": 10}],
}

# name: (the CLI's request arguments, the same request as a POST /init body)
CASES: dict[str, tuple[list[str], dict[str, Any]]] = {
    "xavier_uniform": (
        ["--shape", "256,784", "--scheme", "xavier_uniform", "--seed", "0"],
        {"seed": 0, "shape": [256, 784], "scheme": "xavier_uniform"},
    ),
    "he_normal_bfloat16": (
        ["--shape", "64,3,3,3", "--scheme", "he_normal", "--param", "mode=fan_out", "--param", "nonlinearity=relu",
         "--dtype", "bfloat16", "--seed", "7"],
        {"seed": 7, "dtype": "bfloat16", "shape": [64, 3, 3, 3],
         "scheme": {"name": "he_normal", "mode": "fan_out", "nonlinearity": "relu"}},
    ),
    "orthogonal_float64": (
        ["--shape", "96,64", "--scheme", "orthogonal", "--param", "gain=2", "--dtype", "float64", "--seed", "42",
         "--name", "q"],
        {"seed": 42, "dtype": "float64", "name": "q", "shape": [96, 64], "scheme": {"name": "orthogonal", "gain": 2.0}},
    ),
    "truncated_float16_keras": (
        ["--shape", "3,3,40,50", "--scheme", "truncated_normal", "--param", "std=0.5", "--param", "a=-1",
         "--param", "b=1.5", "--param", "bounds=sigma", "--param", "correct_variance=true", "--dtype", "float16",
         "--layout", "keras", "--seed", "18446744073709551615"],
        {"seed": 2**64 - 1, "dtype": "float16", "layout": "keras", "shape": [3, 3, 40, 50],
         "scheme": {"name": "truncated_normal", "std": 0.5, "a": -1.0, "b": 1.5, "bounds": "sigma",
                    "correct_variance": True}},
    ),
    "fans_overridden": (
        ["--shape", "1000", "--scheme", "lecun_uniform", "--fan-in", "250", "--fan-out", "4", "--seed", "3"],
        {"seed": 3, "shape": [1000], "scheme": "lecun_uniform", "fan_in": 250, "fan_out": 4},
    ),
    "two_mib_streamed": (
        ["--shape", "1024,512", "--scheme", "variance_scaling", "--param", "scale=2", "--param", "mode=fan_avg",
         "--param", "distribution=uniform", "--seed", "5"],
        {"seed": 5, "shape": [1024, 512],
         "scheme": {"name": "variance_scaling", "scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}},
    ),
    "multi_tensor_body": (["--body", "BODY"], BODY),
    # Framework words: a dialect's parameters typed by the word (axes: an integer or a comma-separated list)
    "jax_dialect_axes": (
        ["--dialect", "jax", "--shape", "64,8,32", "--scheme", "he_normal", "--param", "in_axis=0",
         "--param", "out_axis=1", "--seed", "4"],
        {"seed": 4, "dialect": "jax", "shape": [64, 8, 32],
         "scheme": {"name": "he_normal", "in_axis": 0, "out_axis": 1}},
    ),
    "jax_qualified_batch_axes": (
        ["--shape", "2,3,16,8", "--scheme", "jax.variance_scaling", "--param", "scale=2", "--param", "mode=fan_avg",
         "--param", "distribution=normal", "--param", "batch_axis=0,1", "--seed", "9"],
        {"seed": 9, "shape": [2, 3, 16, 8],
         "scheme": {"name": "jax.variance_scaling", "scale": 2.0, "mode": "fan_avg", "distribution": "normal",
                    "batch_axis": [0, 1]}},
    ),
    "keras_dialect_axes": (
        ["--dialect", "keras", "--shape", "3,3,16,32", "--scheme", "HeNormal", "--param", "input_axes=0,1,2",
         "--param", "output_axes=3", "--dtype", "float8_e4m3fn"],
        {"dialect": "keras", "dtype": "float8_e4m3fn", "shape": [3, 3, 16, 32],
         "scheme": {"name": "HeNormal", "input_axes": [0, 1, 2], "output_axes": 3}},
    ),
    "keras_qualified_in_a_torch_layout": (
        ["--shape", "32,16", "--scheme", "keras.TruncatedNormal", "--param", "stddev=0.1", "--dtype", "float8_e5m2"],
        {"dtype": "float8_e5m2", "shape": [32, 16], "scheme": {"name": "keras.TruncatedNormal", "stddev": 0.1}},
    ),
    "jax_orthogonal_column_axis": (
        ["--dialect", "jax", "--shape", "8,4,6", "--scheme", "orthogonal", "--param", "column_axis=0",
         "--param", "scale=2"],
        {"dialect": "jax", "shape": [8, 4, 6], "scheme": {"name": "orthogonal", "column_axis": 0, "scale": 2.0}},
    ),
    "flax_layers_body_with_dialect_flag": (
        ["--body", "FLAX", "--dialect", "flax"],
        {"seed": 2, "dialect": "flax",
         "layers": [{"type": "linear", "name": "Dense_0", "in_features": 12, "out_features": 8},
                    {"type": "batchnorm", "name": "enc/BatchNorm_0", "num_features": 8}]},
    ),
}  # fmt: skip
FLAX_LAYERS = {k: v for k, v in CASES["flax_layers_body_with_dialect_flag"][1].items() if k != "dialect"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving("cli", tmp_path_factory.mktemp("cli-server")) as started:
        yield started


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    path = tmp_path / "body.json"
    path.write_text(json.dumps(BODY))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``python -m service ARGV`` in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def field_lines(stderr: str) -> list[str]:
    """The invalid fields the CLI lists, one per line after the headline."""
    return [line.strip() for line in stderr.splitlines() if line.startswith("  ")]


def problem_lines(problem: dict[str, Any]) -> list[str]:
    """The same lines, from a problem+json answer of the service."""
    lines = []
    for e in problem["errors"]:
        allowed = f" (allowed: {e['allowed']})" if e.get("allowed") else ""
        lines.append(f"{e['field']}: {e['message']}{allowed}")
    return lines


# ----------------------------------------------------------------------------- init


@pytest.mark.parametrize("case", list(CASES))
def test_local_and_server_write_the_bytes_post_init_serves(
    case: str, server: Server, body_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, body = CASES[case]
    (tmp_path / "flax.json").write_text(json.dumps(FLAX_LAYERS))
    args = [str(body_file) if a == "BODY" else str(tmp_path / "flax.json") if a == "FLAX" else a for a in args]
    local, remote = tmp_path / "local.safetensors", tmp_path / "remote.safetensors"

    code, out, err = run(capsys, "init", *args, "--local", "-o", str(local), "--json")
    assert code == 0, err
    local_report = json.loads(out)
    code, out, err = run(capsys, "init", *args, "--url", server.url, "-o", str(remote), "--json")
    assert code == 0, err
    remote_report = json.loads(out)

    answer = server.client.post("/init", json=body)
    assert answer.status_code == 200, answer.text
    expected = hashlib.sha256(answer.content).hexdigest()
    assert local.read_bytes() == remote.read_bytes() == answer.content
    assert local_report["sha256"] == remote_report["sha256"] == expected
    assert answer.headers["repr-digest"] == f"sha-256=:{base64.b64encode(bytes.fromhex(expected)).decode()}:"
    assert local_report["size"] == remote_report["size"] == len(answer.content)
    assert local_report["etag"] == remote_report["etag"] == answer.headers["etag"]
    assert (local_report["source"], remote_report["source"]) == ("local", server.url)
    assert local_report["path"] == str(local)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]  # no temporary file left


def test_summary_line_on_stderr_and_body_from_stdin(
    body_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from_file, from_stdin = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    code, out, err = run(capsys, "init", "--local", "--body", str(body_file), "-o", str(from_file))
    assert code == 0 and out == ""
    digest = hashlib.sha256(from_file.read_bytes()).hexdigest()
    (line,) = err.splitlines()
    assert line.startswith(f"{from_file}: {from_file.stat().st_size:,} bytes, sha256 {digest} (local, ")

    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(BODY)))
    assert run(capsys, "init", "--local", "--body", "-", "-o", str(from_stdin))[0] == 0
    assert from_stdin.read_bytes() == from_file.read_bytes()


def test_flags_override_the_body(body_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--body, then each flag sets its top-level field: here the seed and a shorthand tensor."""
    out = tmp_path / "w.safetensors"
    argv = ["init", "--local", "--body", str(body_file), "--seed", "12", "--shape", "4,4", "--scheme", "eye",
            "--param", "gain=3", "-o", str(out), "--json"]  # fmt: skip
    code, stdout, _ = run(capsys, *argv)
    assert code == 0
    from service.core.artifact import plan
    from service.spec.request import InitRequest, to_request

    expected = {**BODY, "seed": 12, "shape": [4, 4], "scheme": {"name": "eye", "gain": 3.0}}
    assert out.read_bytes() == plan(to_request(InitRequest.model_validate(expected))).to_bytes()
    assert json.loads(stdout)["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- errors and exit statuses

INVALID = {
    "choice": (["--shape", "256,784", "--scheme", "kaiming_normal", "--param", "mode=fan_max"], "scheme.mode"),
    "range": (["--shape", "8,8", "--scheme", "normal", "--param", "std=-1"], "scheme.std"),
    "unknown_param": (["--shape", "8,8", "--scheme", "normal", "--param", "gian=2"], "scheme.gian"),
    "unknown_scheme": (["--shape", "8,8", "--scheme", "glorot_uniformm"], "scheme"),
    "core_refuses": (["--shape", "10", "--scheme", "xavier_uniform"], "shape"),
    "a_not_below_b": (["--shape", "8,8", "--scheme", "uniform", "--param", "a=2", "--param", "b=1"], "scheme.b"),
    "dtype": (["--shape", "8,8", "--scheme", "zeros", "--dtype", "float8"], "dtype"),
    "seed": (["--shape", "8,8", "--scheme", "zeros", "--seed", str(2**64)], "seed"),
    "nothing": (["--seed", "1"], "body"),
    "dialect": (["--shape", "8,8", "--scheme", "zeros", "--dialect", "tensorflow"], "dialect"),
    "word_axis_range": (["--dialect", "jax", "--shape", "8,8", "--scheme", "he_normal", "--param", "in_axis=2"],
                        "scheme.in_axis"),
    "word_axes_overlap": (["--shape", "4,8,8", "--scheme", "jax.he_normal", "--param", "in_axis=0", "--param",
                           "out_axis=0"], "scheme.out_axis"),
    "word_choice": (["--dialect", "keras", "--shape", "8,8", "--scheme", "VarianceScaling", "--param",
                     "mode=fan_geo_avg"], "scheme.mode"),  # not scheme.keras.VarianceScaling.mode
    "word_unknown_param": (["--dialect", "jax", "--shape", "8,8", "--scheme", "he_normal", "--param", "fan=x"],
                           "scheme.fan"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_input_exits_2_with_the_services_field_paths(
    case: str, server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, field = INVALID[case]
    target = tmp_path / "w.safetensors"
    code, out, local_err = run(capsys, "init", *args, "--local", "-o", str(target))
    assert (code, out) == (2, "")
    assert "Traceback" not in local_err
    lines = field_lines(local_err)
    assert lines and lines[0].startswith(f"{field}: "), local_err
    code, _, remote_err = run(capsys, "init", *args, "--url", server.url, "-o", str(target))
    assert code == 2
    assert remote_err.splitlines()[0] == "initw: error: 422 Unprocessable Entity"
    assert field_lines(remote_err) == lines  # the same paths, messages and allowed values
    assert not target.exists() and not list(tmp_path.iterdir())

    code, _, err = run(capsys, "diagnose", *args, "--local")
    assert code == 2 and field_lines(err) == lines


def test_untyped_parameter_text_is_refused_as_get_init_refuses_it(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--param values are typed from the registry: text that is no float, int or bool is refused
    before anything is sent, with GET /init's field path and message for the same query."""
    target = str(tmp_path / "w.safetensors")
    argv = ["--shape", "8,x", "--scheme", "truncated_normal", "--param", "std=abc", "--param", "correct_variance=yes"]
    code, _, err = run(capsys, "init", *argv, "--url", f"http://127.0.0.1:{free_port()}", "-o", target)
    assert code == 2
    query = {"shape": "8,x", "scheme": "truncated_normal", "std": "abc", "correct_variance": "yes"}
    problem = server.client.get("/init", params=query).json()
    assert problem["status"] == 422
    assert sorted(field_lines(err)) == sorted(problem_lines(problem))

    # A framework word's parameters are typed by the word: axes are an integer or comma-separated integers.
    argv = ["--dialect", "jax", "--shape", "4,8,8", "--scheme", "he_normal", "--param", "batch_axis=0,x",
            "--param", "in_axis=1.5"]  # fmt: skip
    code, _, err = run(capsys, "init", *argv, "--url", f"http://127.0.0.1:{free_port()}", "-o", target)
    assert code == 2
    query = {"dialect": "jax", "shape": "4,8,8", "scheme": "he_normal", "batch_axis": "0,x", "in_axis": "1.5"}
    problem = server.client.get("/init", params=query).json()
    assert problem["status"] == 422
    assert sorted(field_lines(err)) == sorted(problem_lines(problem))
    assert {line.split(":")[0] for line in field_lines(err)} == {"scheme.batch_axis", "scheme.in_axis"}


def test_the_element_cap_of_settings_applies_locally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INITW_MAX_ELEMENTS", "99")
    monkeypatch.setenv("INITW_MAX_DIAGNOSTICS_ELEMENTS", "100")
    args = ["--shape", "10,10", "--scheme", "normal"]
    code, _, err = run(capsys, "init", *args, "--local", "-o", str(tmp_path / "w.safetensors"))
    assert code == 2
    assert "the request asks for 100 elements; at most 99 per request (INITW_MAX_ELEMENTS)" in err
    assert run(capsys, "diagnose", *args, "--local")[0] == 0  # within its own cap


def test_other_user_errors_exit_2_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    cases = [
        (["--body", str(tmp_path / "missing.json")], "cannot read --body"),
        (["--body", str(tmp_path / "bad.json")], "the body is not valid JSON"),
        (["--shape", "8,8", "--param", "gain=2"], "--param needs a scheme"),
        (["--shape", "8,8", "--scheme", "normal", "--param", "std"], "--param takes KEY=VALUE"),
    ]
    for args, message in cases:
        code, _, err = run(capsys, "init", *args, "--local", "-o", str(tmp_path / "w.safetensors"))
        assert code == 2 and message in err and "Traceback" not in err, err
    code, _, err = run(capsys, "init", "--shape", "8,8", "--scheme", "ones", "--local", "-o", str(tmp_path / "no/w"))
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "init", "--shape", "8,8", "--scheme", "ones", "--param", "x=1", "--local", "--progress",
                       "-o", str(tmp_path / "w.safetensors"))  # fmt: skip
    assert code == 2 and err == "initw: error: invalid request\n  scheme.x: unknown field\n"  # no bar before it


def test_an_unreachable_server_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INITW_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    args = ["--shape", "8,8", "--scheme", "ones", "--retries", "0"]
    code, _, err = run(capsys, "init", *args, "-o", str(tmp_path / "w.safetensors"))
    assert code == 3
    assert err.startswith("initw: error: cannot reach the server: POST /init: ConnectError") and "Traceback" not in err
    assert not list(tmp_path.iterdir())
    assert run(capsys, "diagnose", *args)[0] == 3
    assert run(capsys, "schemes", "--url", f"http://127.0.0.1:{free_port()}", "--retries", "0")[0] == 3


class _Lying(BaseHTTPRequestHandler):
    """POST /init answers 200 with a Repr-Digest that is not the body's; POST /diagnostics a 503."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers["content-length"]))
        if self.path == "/diagnostics":
            body = b'{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"busy"}'
            self.send_response(503)
            self.send_header("content-type", "application/problem+json")
        else:
            body = b"not the bytes the digest names"
            self.send_response(200)
            self.send_header("content-type", "application/octet-stream")
            self.send_header("repr-digest", f"sha-256=:{base64.b64encode(hashlib.sha256(b'x').digest()).decode()}:")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def lying_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Lying)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_a_corrupt_download_exits_4_and_a_server_failure_3(
    lying_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "w.safetensors"
    target.write_bytes(b"previous")
    args = ["--shape", "8,8", "--scheme", "ones", "--url", lying_server, "--retries", "0"]
    code, _, err = run(capsys, "init", *args, "-o", str(target))
    assert code == 4
    assert err.startswith("initw: error: integrity check failed: the body's SHA-256 is ")
    assert target.read_bytes() == b"previous"  # left alone, no partial file beside it
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]
    code, _, err = run(capsys, "diagnose", *args)
    assert code == 3 and err.splitlines()[0] == "initw: error: 503 Service Unavailable: busy"


# ----------------------------------------------------------------------------- progress


@pytest.mark.parametrize("where", ["local", "server"])
def test_progress_bar_with_progress_and_none_without(
    where: str, server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = ["--local"] if where == "local" else ["--url", server.url]
    args = ["init", "--shape", "1024,1024", "--scheme", "normal", *source, "-o", str(tmp_path / "w.safetensors")]
    code, _, err = run(capsys, *args, "--progress")
    assert code == 0
    bar, summary = err.rsplit("\n", 2)[:2]
    assert bar.startswith("\rw.safetensors ")
    assert "100.0% [##############################] 4.0/4.0 MiB" in bar.split("\r")[-1]
    assert summary.startswith(str(tmp_path / "w.safetensors") + ": 4,")
    for quiet in ([], ["--no-progress"]):  # stderr is not a terminal here: no bar by default
        code, _, err = run(capsys, *args, *quiet)
        assert code == 0 and "%" not in err and "\r" not in err and len(err.splitlines()) == 1


def test_progress_bar_waits_for_slow_artifacts(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(cli.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    bar = cli.ProgressBar(stream, "w", forced=False)
    bar(10, 100)
    assert stream.getvalue() == ""  # too early: small files print nothing
    clock[0] += cli.PROGRESS_DELAY
    bar(50, 100)
    assert "50.0%" in stream.getvalue()
    bar(60, None)
    assert "60.0%" not in stream.getvalue()  # within the redraw interval
    clock[0] += 1
    bar.close()
    final = stream.getvalue().split("\r")[-1]
    assert final.endswith("\n") and final.split() == ["w", "0.0", "MiB", "0.0", "MiB/s"]  # padded over the longer line


class Terminal(io.StringIO):
    def fileno(self) -> int:
        return 2


def test_progress_bar_fits_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line wider than the terminal would wrap, and "\r" would redraw only its last row: the bar narrows."""
    clock = [100.0]
    monkeypatch.setattr(cli.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(cli.os, "get_terminal_size", lambda fd: os.terminal_size((80, 24)))
    stream = Terminal()
    bar = cli.ProgressBar(stream, "model-00001-of-00003.safetensors", forced=True)
    clock[0] += 1
    bar(512 << 20, 1 << 30)
    bar.close()
    lines = stream.getvalue().rstrip("\n").split("\r")[1:]
    assert lines[-1] == "model-00001-of-00003.safetensors  50.0% [####----] 512.0/1024.0 MiB 512.0 MiB/s"
    assert all(len(line) <= 79 for line in lines)
    monkeypatch.setattr(cli.os, "get_terminal_size", lambda fd: os.terminal_size((40, 24)))
    narrow = Terminal()
    cut = cli.ProgressBar(narrow, "model-00001-of-00003.safetensors", forced=True)
    cut(512 << 20, 1 << 30)
    cut.close()
    assert narrow.getvalue().split("\r")[-1] == "model-00001-of-00003.safetensors  50.0%\n"  # no bar, cut
    wide = io.StringIO()  # not a terminal: 80 columns, the whole bar when it fits
    fits = cli.ProgressBar(wide, "w", forced=True)
    fits(0, 100)
    fits.close()
    assert "[------------------------------]" in wide.getvalue()


# ----------------------------------------------------------------------------- schemes and diagnose


def test_schemes_lists_every_registry_name_and_alias(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schemes")
    assert code == 0
    listed = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(listed) == set(REGISTRY)
    for name, scheme in REGISTRY.items():
        assert all(alias in listed[name] for alias in scheme.aliases)
        assert all(f"{p.name}: {p.kind}" in listed[name] for p in scheme.params)
    code, out, _ = run(capsys, "schemes", "--json")
    assert json.loads(out) == catalogue()
    code, out, _ = run(capsys, "schemes", "--json", "--url", server.url)
    assert json.loads(out) == server.client.get("/schemes").json()["schemes"]


def test_schemes_describes_one_scheme(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schemes", "msra")
    assert code == 0
    assert out.startswith("kaiming_normal (aliases: he_normal, msra, msra_normal)")
    assert "mode: str = 'fan_in'; one of fan_in, fan_out" in out
    for source in ([], ["--url", server.url]):
        code, out, _ = run(capsys, "schemes", "he_normal", "--json", *source)
        assert json.loads(out) == server.client.get("/schemes/he_normal").json()
    code, _, err = run(capsys, "schemes", "no_such_scheme")
    assert code == 2 and "no scheme named 'no_such_scheme'" in err


@pytest.mark.parametrize("dialect", ["keras", "jax", "flax", "torch"])
def test_schemes_dialect_lists_a_frameworks_words(
    dialect: str, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dialect lists what GET /schemes?dialect= serves: every word, its aliases, parameters and meaning."""
    expected = server.client.get("/schemes", params={"dialect": dialect}).json()["schemes"]
    assert expected == dialect_catalogue(dialect)
    for source in ([], ["--url", server.url]):
        code, out, _ = run(capsys, "schemes", "--dialect", dialect, "--json", *source)
        assert code == 0 and json.loads(out) == expected
    code, out, _ = run(capsys, "schemes", "--dialect", dialect)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["word", "aliases", "parameters"]
    listed = {line.split()[0]: line for line in lines[1:] if not line.startswith(" ")}
    assert list(listed) == [w["name"] for w in expected]
    meanings = [line.strip() for line in lines[1:] if line.startswith(" ")]
    assert meanings == [f"refused: {w['unsupported']}" if w.get("unsupported") else f"means {w['meaning']}"
                        for w in expected]  # fmt: skip
    for word in expected:
        assert all(alias in listed[word["name"]] for alias in word["aliases"])
        assert all(f"{p['name']}: {p['type']}" in listed[word["name"]] for p in word["parameters"])
    code, out, _ = run(capsys, "schemes", "--dialect", "initw", "--json")
    assert json.loads(out) == catalogue()


@pytest.mark.parametrize(
    "argv, name",
    [(["keras.HeNormal"], "keras.HeNormal"), (["he_normal", "--dialect", "keras"], "keras.HeNormal"),
     (["jax.kaiming_normal"], "jax.he_normal"), (["kaiming_normal_", "--dialect", "torch"], "torch.kaiming_normal_"),
     (["flax.zeros_init"], "flax.zeros_init"), (["STFT", "--dialect", "keras"], "keras.STFT")],
)  # fmt: skip
def test_schemes_describes_a_framework_word(
    argv: list[str], name: str, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    """A qualified word, or an unqualified one with --dialect, is described as GET /schemes/{word} does."""
    expected = server.client.get(f"/schemes/{name}").json()
    assert expected["name"] == name
    for source in ([], ["--url", server.url]):
        code, out, _ = run(capsys, "schemes", *argv, "--json", *source)
        assert code == 0 and json.loads(out) == expected
    code, out, _ = run(capsys, "schemes", *argv)
    assert code == 0
    aliases = f" (aliases: {', '.join(expected['aliases'])})" if expected["aliases"] else ""
    assert out.startswith(f"{name}{aliases}\n\nframework: {expected['framework']}\nmeaning: {expected['meaning']}\n")
    assert ("refused: " in out) == ("unsupported" in expected)
    for param in expected["parameters"]:
        assert f"  {param['name']}: {param['type']} " in out


def test_schemes_describes_the_jax_axes_and_refuses_unknown_words(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schemes", "he_normal", "--dialect", "jax")
    assert code == 0
    assert "framework: jax.nn.initializers.he_normal(in_axis=-2, out_axis=-1, batch_axis=())" in out
    assert "  batch_axis: axes = []; an axis (an integer, negative from the end) or a list of distinct axes" in out
    code, _, err = run(capsys, "schemes", "HeNormall", "--dialect", "keras")
    assert code == 2
    assert err == ("initw: error: no scheme named 'keras.HeNormall' in the keras dialect; "
                   "python -m service schemes --dialect keras lists them\n")  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        run(capsys, "schemes", "--dialect", "tensorflow")
    assert exited.value.code == 2 and "invalid choice: 'tensorflow'" in capsys.readouterr().err


def test_presets_lists_and_describes_what_get_presets_serves(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = server.client.get("/presets").json()["presets"]
    for source in ([], ["--url", server.url]):
        code, out, _ = run(capsys, "presets", "--json", *source)
        assert code == 0 and json.loads(out) == expected
        code, out, _ = run(capsys, "presets", "gpt2", "--json", *source)
        assert code == 0 and json.loads(out) == server.client.get("/presets/gpt2").json()
    code, out, _ = run(capsys, "presets")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == [p["name"] for p in expected]
    code, out, _ = run(capsys, "presets", "fixup_mlp")
    fixup = next(p for p in expected if p["name"] == "fixup_mlp")
    assert code == 0 and out.startswith(f"fixup_mlp: {fixup['title']}\n")
    for field in fixup["fields"]:
        assert f"  {field['name']}: {field['type']} " in out
    assert f"example body: {json.dumps(fixup['example'])}" in out
    assert server.client.post("/init", json=fixup["example"]).status_code == 200  # the body shown works
    code, _, err = run(capsys, "presets", "gpt3")
    assert code == 2 and "no preset named 'gpt3' (presets: gpt2, " in err


WARNED = ["--layout", "keras", "--shape", "3,3,16,32", "--scheme", "he_normal"]


def test_init_prints_the_services_warnings_from_a_server_and_locally(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unqualified name a keras layout reads otherwise: the file is today's, and the Initw-Warning
    the service sends is printed on stderr and listed by --json, from a server or --local alike."""
    answer = server.client.post("/init", json={"layout": "keras", "shape": [3, 3, 16, 32], "scheme": "he_normal"})
    warnings = answer.headers.get_list("initw-warning")
    assert len(warnings) == 1 and "keras.he_normal" in warnings[0]
    for source in (["--local"], ["--url", server.url]):
        target = tmp_path / f"{source[0][2:]}.safetensors"
        code, out, err = run(capsys, "init", *WARNED, *source, "-o", str(target))
        assert code == 0 and out == ""
        assert err.splitlines()[:-1] == [f"initw: warning: {warning}" for warning in warnings]
        assert err.splitlines()[-1].startswith(f"{target}: ")
        assert target.read_bytes() == answer.content
        code, out, _ = run(capsys, "init", *WARNED, *source, "-o", str(target), "--json")
        assert code == 0 and json.loads(out)["warnings"] == warnings
    for quiet in (["--dialect", "initw"], ["--dialect", "keras"], ["--layout", "torch"]):
        code, out, err = run(capsys, "init", *WARNED, *quiet, "--url", server.url, "-o", str(tmp_path / "q"), "--json")
        assert code == 0 and json.loads(out)["warnings"] == [] and "warning" not in err
    code, out, _ = run(capsys, "init", *WARNED, "--dialect", "initw", "--local", "-o", str(tmp_path / "q"), "--json")
    assert json.loads(out)["sha256"] == hashlib.sha256(answer.content).hexdigest()  # the same bytes, unwarned


def test_diagnose_local_equals_the_servers_post_diagnostics(
    server: Server, body_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = server.client.post("/diagnostics", json=BODY).json()
    code, local, _ = run(capsys, "diagnose", "--body", str(body_file), "--local")
    assert code == 0
    code, remote, _ = run(capsys, "diagnose", "--body", str(body_file), "--url", server.url)
    assert code == 0
    assert local == remote  # the same text
    assert json.loads(local) == expected
    zeros = ["--shape", "64,64", "--scheme", "zeros", "--seed", "1"]
    code, out, _ = run(capsys, "diagnose", *zeros, "--local")
    assert json.loads(out) == server.client.post("/diagnostics", json={"seed": 1, "shape": [64, 64],
                                                                        "scheme": "zeros"}).json()  # fmt: skip
    assert json.loads(out)["diagnostics"]["weight"]["verdict"] == "fail"


# ----------------------------------------------------------------------------- the real entry point


@pytest.mark.slow  # a new interpreter
def test_python_m_service_init_as_a_process(tmp_path: Path) -> None:
    target = tmp_path / "w.safetensors"
    argv = [sys.executable, "-m", "service", "init", "--shape", "256,784", "--scheme", "xavier_uniform", "--local"]
    done = subprocess.run([*argv, "-o", str(target)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(f"{target}: 803,920 bytes, sha256 {hashlib.sha256(target.read_bytes()).hexdigest()}")
    failed = subprocess.run(
        [*argv, "--param", "gain=-", "-o", str(target)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert failed.returncode == 2
    assert failed.stderr == "initw: error: invalid request\n  scheme.gain: must be a float, got '-'\n"


# ----------------------------------------------------------------------------- sharded checkpoints


def test_a_sharded_checkpoint_locally_and_from_a_server_is_the_same_files(
    server: Server, body_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """BODY's 9216 + 12288 + 800 + 400 + 20 bytes in shards of at most 8 kB: three shards, conv and
    orth each alone (larger than the maximum, as transformers does)."""
    base = ["init", "--body", str(body_file), "--shard-size", "8KB", "--json"]
    code, out, err = run(capsys, *base, "--local", "--out", str(tmp_path / "local"))
    assert code == 0, err
    local = json.loads(out)
    code, out, err = run(capsys, *base, "--url", server.url, "--out", str(tmp_path / "remote"))
    assert code == 0, err
    remote = json.loads(out)
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "remote").iterdir())
    assert names == [*(f"model-0000{k}-of-0000{local['shards']}.safetensors" for k in range(1, local["shards"] + 1)),
                     "model.safetensors.index.json"]  # fmt: skip
    assert local["shards"] == remote["shards"] == 3 and local["shard_size"] == 8000
    for name in names:
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "remote" / name).read_bytes(), name
        answer = server.client.post(f"/init/checkpoint/{name}", params={"shard_size": "8000"}, json=BODY)
        assert answer.content == (tmp_path / "local" / name).read_bytes(), name
    assert [f["sha256"] for f in local["files"]] == [f["sha256"] for f in remote["files"]]
    assert [f["etag"] for f in local["files"]] == [f["etag"] for f in remote["files"]]
    assert {f["source"] for f in local["files"]} == {"local"} and {f["source"] for f in remote["files"]} == {server.url}

    # One machine's share: --shard K (repeatable) and --index, into a directory made for them
    code, out, err = run(capsys, *base, "--local", "--out", str(tmp_path / "a" / "b"), "--shard", "2", "--shard", "2")
    assert code == 0, err
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == [names[1]]
    code, out, err = run(capsys, *base, "--url", server.url, "--out", str(tmp_path / "c"), "--index", "--shard", "1")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [names[0], names[-1]]
    code, out, err = run(capsys, "init", "--body", str(body_file), "--shard-size", "8000", "--index", "--local",
                         "--out", str(tmp_path / "d"))  # fmt: skip
    assert code == 0 and [p.name for p in (tmp_path / "d").iterdir()] == [names[-1]]
    assert "model.safetensors.index.json: " in err and "sha256" in err  # one line per file


@pytest.mark.parametrize(
    ("extra", "lines"),
    [
        (["--shard-size", "8XB"], ["shard_size: unknown unit 'XB': one of B, KB, MB, GB, TB, KiB, MiB, GiB, TiB"]),
        (["--shard-size", "0"], ["shard_size: a shard size is 1 to 9,007,199,254,740,991 bytes, got 0"]),
        (["--shard-size", "8KB", "--shard", "9"], ["shard: this checkpoint has shards 1 to 3 (allowed: 1 .. 3)"]),
        (["--shard", "1"], []),
    ],
)
@pytest.mark.parametrize("where", ["--local", "server"])
def test_bad_checkpoint_arguments_exit_2_naming_the_field(
    extra: list[str], lines: list[str], where: str, server: Server, body_file: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    source = ["--local"] if where == "--local" else ["--url", server.url]
    code, out, err = run(capsys, "init", "--body", str(body_file), *extra, *source, "--out", str(tmp_path / "x"))
    assert code == 2, err
    assert field_lines(err) == lines
    if not lines:
        assert "give --shard-size SIZE too" in err
    assert not (tmp_path / "x").exists() or not list((tmp_path / "x").iterdir())
