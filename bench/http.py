"""HTTP benchmarks on real server processes over loopback (bench/servers.py), results in bench/results/http.md.

- e2e: POST /init of a 4096 x 4096 xavier_normal file, curl writing it to disk, vs torch init +
  safetensors save_file in a torch process (torch optional: without it initw's side alone);
- memory: peak RSS of one worker while it streams a 1 GiB file (GET /init?shape=16384,16384);
- small: 256 x 256 requests per second and idle latency, ours (cached and distinct seeds) vs a minimal app;
- options: the same small requests under uvicorn's asyncio + h11 vs uvloop + httptools (each row
  skipped, and said so, when its packages are not installed).

Rounds alternate between the things compared, so the noise of a shared machine hits all of them alike;
ratios are medians of the per-round ratios. Each figure names the tool that measured it, and each
table the value path the server runs (its /version).
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from service.core.generate import TensorSpec, generate

from . import paths, servers
from .load import SEED_SLOT, Post, Result, curl, load
from .report import Goal, Section, median, progress, ratio_text

MIB = 1 << 20
E2E_SHAPE = [4096, 4096]
E2E_BODY = '{"seed": %d, "shape": [4096, 4096], "scheme": "xavier_normal"}'
BIG_PATH = "/init?shape=16384,16384&scheme=normal&std=0.02&seed=%d"  # 2^28 float32: a 1 GiB file
BIG_ENV = {"INITW_MAX_ELEMENTS": "300000000"}
MEMORY_GOAL_MIB = 256
SMALL_BODY = '{"seed": ' + SEED_SLOT + ', "shape": [256, 256], "scheme": "xavier_uniform"}'
LIGHT_BODY = SMALL_BODY[:-1] + ', "header": "moments"}'  # the opt-in light header (docs/ARTIFACT.md)
CACHED_SEED = "12345"
WORKERS = 2  # the machine's cores
THROUGHPUT = {"connections": 16, "threads": 2}
IDLE = {"connections": 1, "threads": 1}
RATE_GOAL = 0.5
P99_GOAL_MS = 20.0
E2E_WORK = "POST /init 4096^2 xavier_normal end to end (curl writing the file) vs torch init + safetensors save"
E2E_TARGET = "initw / torch time <= 1.0x"
SMALL_WORK = "256x256 requests, distinct seeds, req/s vs bench/minimal_app.py"
PYTHON_TOOL_NOTE = (
    "wrk is not installed (apt-get install wrk): the Python load generator measured these. It is bound by its own "
    "GIL (thousands of requests/s), so the minimal app's rate is a floor and ratios to it read high."
)


# A torch user's own process: torch and safetensors only. Each input line asks for one init + save to a file and
# gets its time back, so rounds can alternate with the HTTP requests.
TORCH_USER = """
import sys, time
import safetensors.torch, torch
torch.set_num_threads(int(sys.argv[1]))
for _ in sys.stdin:
    start = time.perf_counter()
    weight = torch.nn.init.xavier_normal_(torch.empty(4096, 4096))
    safetensors.torch.save_file({"weight": weight}, sys.argv[2])
    print(time.perf_counter() - start, flush=True)
"""


def missing(*modules: str) -> list[str]:
    """The modules of ``modules`` this interpreter cannot import (the servers run on the same one)."""
    absent = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:
            found = False
        if not found:
            absent.append(name)
    return absent


def server_path(server: servers.Server) -> str:
    """The value path the server says it runs (GET /version: "kernels"), for the table's header."""
    try:
        connection = http.client.HTTPConnection(servers.HOST, server.port, timeout=10)
        connection.request("GET", "/version")
        details = json.loads(connection.getresponse().read()).get("kernels")
        connection.close()
    except (OSError, ValueError):
        details = None
    if isinstance(details, dict):
        return paths.describe({str(k): str(v) for k, v in details.items()})
    return f"not reported by its /version (started with {server.env_text or 'the inherited environment'})"


def torch_init_and_save(path: Path) -> None:
    """The same in this process, where the core benchmark has tuned glibc malloc as the server does
    (service.core.parallel.keep_freed_memory): freed 64 MiB buffers stay mapped, so torch's save
    skips its page faults."""
    import safetensors.torch
    import torch

    weight = torch.nn.init.xavier_normal_(torch.empty(*E2E_SHAPE))
    safetensors.torch.save_file({"weight": weight}, str(path))


@contextlib.contextmanager
def torch_user(path: Path) -> Iterator[Callable[[], float]]:
    """A clean torch process; yields a function that runs one init + save to ``path`` there and returns its seconds."""
    threads = str(os.cpu_count() or 1)
    process = subprocess.Popen([sys.executable, "-c", TORCH_USER, threads, str(path)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    ask, answer = process.stdin, process.stdout
    assert ask is not None and answer is not None

    def once() -> float:
        ask.write("\n")
        ask.flush()
        line = answer.readline()
        if not line:
            raise RuntimeError("the torch process exited (is torch installed? pip install torch==2.13.0)")
        return float(line)

    try:
        yield once
    finally:
        ask.close()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def e2e(runs: int, choice: paths.Paths) -> Section:
    section = Section()
    absent = missing("torch", "safetensors")
    if shutil.which("curl") is None:
        section.emit("## End to end: skipped, curl is not installed (apt-get install curl)", "")
        section.goals.append(Goal(E2E_WORK, E2E_TARGET, "skipped: curl is not installed", None, row=6))
        return section
    with_torch = not absent
    if with_torch:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
    rounds: list[dict] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-e2e-") as folder,
        servers.ours(workers=1, env=choice.server_env()) as server,
        torch_user(Path(folder) / "torch.safetensors") if with_torch else contextlib.nullcontext() as torch_elsewhere,
    ):
        ours_file, tuned_file = Path(folder) / "initw.safetensors", Path(folder) / "torch-tuned.safetensors"
        section.emit(
            f"## End to end: 4096 x 4096 xavier_normal, files written to disk, medians of {runs} rounds; "
            f"server path: {server_path(server)}",
            "",
        )
        if not with_torch:
            section.emit(f"torch side skipped: {', '.join(absent)} not installed (pip install torch==2.13.0).", "")
        url = server.url + "/init"
        curl(url, E2E_BODY % 0, ours_file)  # warm-up, every side: lazily built code paths and allocator pools
        if torch_elsewhere:
            torch_elsewhere()
            torch_init_and_save(tuned_file)
        for seed in range(1, runs + 1):  # a new seed each round: nothing remembered can answer
            fetch = curl(url, E2E_BODY % seed, ours_file)
            if fetch.status != 200 or fetch.bytes < 4 * 4096 * 4096:
                raise RuntimeError(f"POST /init answered {fetch.status} with {fetch.bytes} bytes")
            sample = {"fetch": fetch}
            if torch_elsewhere:
                sample["clean"] = torch_elsewhere()
                sample["tuned"] = _seconds(lambda: torch_init_and_save(tuned_file))
            with paths.active(choice.primary):
                spec = TensorSpec("weight", tuple(E2E_SHAPE), "xavier_normal")
                sample["values"] = _seconds(lambda s=seed, spec=spec: generate(spec, s))
            rounds.append(sample)
            progress(
                f"e2e round {seed}: curl {fetch.total_s * 1e3:.0f} ms"
                + (f", torch {sample['clean'] * 1e3:.0f} ms" if torch_elsewhere else "")
            )

    def ms(key: str) -> str:
        return f"{median(r[key] for r in rounds) * 1e3:.1f}" if key in rounds[0] else "n/a"

    for r in rounds:
        r.update(total=r["fetch"].total_s, first=r["fetch"].first_byte_s)
        r.update(transfer=r["total"] - r["first"])
        if with_torch:
            r.update(ratio=r["total"] / r["clean"], tuned_ratio=r["total"] / r["tuned"])
    section.table(
        ["what", "ms", "tool"],
        [
            ["initw: POST /init over loopback, whole round trip, curl writing the 64 MiB file", ms("total"),
             "curl time_total"],
            ["- of which before the first byte (values, header, copy, SHA-256)", ms("first"),
             "curl time_starttransfer"],
            ["- of which the body's transfer and write", ms("transfer"), "curl"],
            [f"initw values alone, in-process (`generate`, {choice.primary} path, {os.cpu_count()} threads)",
             ms("values"), "perf_counter"],
            ["torch: `xavier_normal_(torch.empty(4096, 4096))` + `safetensors.torch.save_file`, own process",
             ms("clean"), "perf_counter"],
            ["torch: the same in this process (initw's malloc tuning applies)", ms("tuned"), "perf_counter"],
        ],
    )  # fmt: skip
    if not with_torch:
        goal = Goal(E2E_WORK, E2E_TARGET, f"not judged: {', '.join(absent)} not installed; initw {ms('total')} ms",
                    None, "curl", row=6)  # fmt: skip
    else:
        ratio, tuned_ratio = median(r["ratio"] for r in rounds), median(r["tuned_ratio"] for r in rounds)
        goal = Goal(E2E_WORK, E2E_TARGET,
                    f"{ratio_text(ratio)} the time ({ms('total')} ms vs {ms('clean')} ms; vs torch with initw's "
                    f"malloc tuning: {ratio_text(tuned_ratio)})",
                    ratio <= 1.0, "curl vs torch in its own process", row=6)  # fmt: skip
    if with_torch:
        section.emit(
            f"Goal: {goal.target}: {goal.verdict} ({goal.measured}; medians of per-round ratios). Judged against "
            "torch in a process of its own, as a user runs it; the in-process figure shows what glibc's default "
            "malloc costs torch (page faults on each fresh 64 MiB buffer). Both sides write the 64 MiB file to disk.",
            "",
        )
    else:
        section.emit(f"Goal: {goal.target}: {goal.measured}.", "")
    section.goals.append(goal)
    return section


def memory(runs: int, choice: paths.Paths) -> Section:
    section = Section()
    title = f"## Memory: one worker streams a 1 GiB file (GET {BIG_PATH % 0}), medians of {runs} servers"
    if shutil.which("curl") is None:
        section.emit(f"{title}: skipped, curl is not installed (apt-get install curl)", "")
        return section
    samples = []
    described = ""
    for run in range(runs):  # a fresh server each run: VmHWM only ever grows
        with servers.ours(workers=1, env={**BIG_ENV, **choice.server_env()}) as server:
            if not described:
                described = server_path(server)
                section.emit(f"{title}; server path: {described}", "")
            curl(server.url + "/init", SMALL_BODY.replace(SEED_SLOT, "0"))  # warm-up
            before = servers.peak_rss_bytes(server.pid)
            first = curl(server.url + BIG_PATH % run)
            after_first = servers.peak_rss_bytes(server.pid)
            second = curl(server.url + BIG_PATH % run)
            after_second = servers.peak_rss_bytes(server.pid)
        for fetch in (first, second):
            if fetch.status != 200 or fetch.bytes < 1 << 30:
                raise RuntimeError(f"GET {BIG_PATH % run} answered {fetch.status} with {fetch.bytes} bytes")
        samples.append((before, after_first - before, after_second - before, first, second))
        progress(f"memory run {run + 1}: +{(after_second - before) / MIB:.0f} MiB, first {first.total_s:.1f} s")
    base = median(s[0] for s in samples) / MIB
    grown_first = median(s[1] for s in samples) / MIB
    grown = median(s[2] for s in samples) / MIB
    rows = [
        ["peak RSS (VmHWM) after warm-up", f"{base:.0f} MiB", "/proc/PID/status"],
        ["peak RSS increase after the first request", f"{grown_first:.0f} MiB", "/proc/PID/status"],
        ["peak RSS increase after both requests", f"{grown:.0f} MiB", "/proc/PID/status"],
    ]
    for label, index in (("first request (digest pass, then body)", 3), ("second request (digest remembered)", 4)):
        total = median(s[index].total_s for s in samples)
        first_byte = median(s[index].first_byte_s for s in samples)
        rows.append([f"{label}: wall time", f"{total:.2f} s ({1 / total:.2f} GiB/s)", "curl time_total"])
        rows.append([f"{label}: first byte after", f"{first_byte:.2f} s", "curl time_starttransfer"])
    section.table(["what", "value", "tool"], rows)
    goal = Goal("memory: streaming a 1 GiB file", f"peak RSS increase <= {MEMORY_GOAL_MIB} MiB",
                f"{grown:.0f} MiB", grown <= MEMORY_GOAL_MIB, "VmHWM")  # fmt: skip
    section.emit(f"Goal: {goal.target}: {goal.verdict} ({goal.measured}).", "")
    section.goals.append(goal)
    return section


def response_bytes(url: str, body: str) -> int:
    """The size of our answer to ``body``: the minimal app sends that many bytes."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", parts.path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {url} answered {response.status}: {data[:300]!r}")
        return len(data)
    finally:
        connection.close()


def _alternate(targets: dict[str, Post], rounds: int, seconds: float, tool: str, shape: dict[str, int]):
    """{name: [Result per round]}, the targets taking turns within every round."""
    results: dict[str, list[Result]] = {name: [] for name in targets}
    for round_ in range(rounds):
        for name, target in targets.items():
            results[name].append(load(target, seconds=seconds, tool=tool, **shape))
        summary = ", ".join(f"{name} {r[-1].requests_per_s:.0f}/s" for name, r in results.items())
        progress(f"round {round_ + 1}/{rounds}, {shape['connections']} connection(s): {summary}")
    return results


def _warm_up(targets: dict[str, Post], tool: str) -> None:
    # Every worker past its first requests (the readiness probe reaches only one of them).
    for target in targets.values():
        load(target, seconds=2, tool=tool, **THROUGHPUT)


def small(seconds: float, rounds: int, tool: str, choice: paths.Paths) -> Section:
    section = Section()
    with servers.ours(workers=WORKERS, env=choice.server_env()) as ours:
        section.emit(
            f"## Small requests: POST /init 256 x 256 xavier_uniform, {WORKERS} workers, medians of {rounds} rounds "
            f"of {seconds:g} s; server path: {server_path(ours)}",
            "",
        )
        url = ours.url + "/init"
        size = response_bytes(url, SMALL_BODY.replace(SEED_SLOT, CACHED_SEED))
        with servers.minimal(size, workers=WORKERS) as minimal:
            targets = {
                "minimal app (constant body)": Post(minimal.url + "/init", SMALL_BODY.replace(SEED_SLOT, "0")),
                "initw, identical body (cached)": Post(url, SMALL_BODY.replace(SEED_SLOT, CACHED_SEED)),
                "initw, distinct seed per request": Post(url, SMALL_BODY),
                'initw, distinct seeds, "header": "moments"': Post(url, LIGHT_BODY),
            }
            _warm_up(targets, tool)
            busy = _alternate(targets, rounds, seconds, tool, THROUGHPUT)
            idle = _alternate(targets, rounds, seconds, tool, IDLE)
    base = "minimal app (constant body)"
    rows, ratios = [], {}
    for name in targets:
        ratios[name] = median(r.requests_per_s / b.requests_per_s for r, b in zip(busy[name], busy[base], strict=True))
        rows.append([
            name,
            f"{median(r.requests_per_s for r in busy[name]):.0f}",
            ratio_text(ratios[name]),
            f"{median(r.p50_ms for r in idle[name]):.2f}",
            f"{median(r.p99_ms for r in idle[name]):.2f}",
            str(sum(r.failures for r in busy[name] + idle[name])),
            busy[name][0].tool,
        ])  # fmt: skip
    section.emit(
        f"Body: {size:,} bytes from both servers (the safetensors file of seed {CACHED_SEED}). Both run under uvicorn "
        f"with --workers {WORKERS} --loop auto --http auto and its access log: ours as `python -m service serve`, the "
        "minimal app (bench/minimal_app.py, an `async def` handler returning constant bytes) as `python -m uvicorn`.",
        "",
    )
    if tool == "python":
        section.emit(PYTHON_TOOL_NOTE, "")
    section.table(
        ["endpoint", f"req/s ({THROUGHPUT['connections']} connections)", "vs minimal",
         "idle p50 ms (1 connection)", "idle p99 ms", "failed", "tool"],
        rows,
    )  # fmt: skip
    distinct, cached = "initw, distinct seed per request", "initw, identical body (cached)"
    light = 'initw, distinct seeds, "header": "moments"'
    p99 = median(r.p99_ms for r in idle[distinct])
    rate = {name: median(r.requests_per_s for r in busy[name]) for name in targets}
    caveat = " (Python load generator: it caps the minimal app, so this reads high)" if tool == "python" else ""
    goals = [
        Goal(SMALL_WORK, f"req/s ratio >= {RATE_GOAL}x",
             f"default header {ratios[distinct]:.2f}x ({rate[distinct]:.0f} vs {rate[base]:.0f} req/s); "
             f'opt-in "header": "moments" {ratios[light]:.2f}x ({rate[light]:.0f} req/s); identical body, cached: '
             f"{ratios[cached]:.2f}x{caveat}",
             max(ratios[distinct], ratios[light]) >= RATE_GOAL, busy[distinct][0].tool, row=7),
        Goal("small: idle p99 latency (distinct seeds)", f"< {P99_GOAL_MS:g} ms",
             f"{p99:.2f} ms (cached: {median(r.p99_ms for r in idle[cached]):.2f} ms)", p99 < P99_GOAL_MS,
             idle[distinct][0].tool),
    ]  # fmt: skip
    for goal in goals:
        section.emit(f"Goal: {goal.name}: {goal.target}: {goal.verdict} ({goal.measured}).")
    section.emit("")
    section.goals += goals
    return section


def server_options(seconds: float, rounds: int, tool: str, choice: paths.Paths) -> Section:
    """asyncio + h11 against uvloop + httptools; a row whose packages are missing is skipped and said so."""
    section = Section()
    title = (
        f"## Server options: distinct-seed small requests, `python -m uvicorn service.app:app --workers {WORKERS}`, "
        f"medians of {rounds} rounds of {seconds:g} s"
    )
    wanted = {
        "--loop asyncio --http h11": ("asyncio", "h11"),
        "--loop uvloop --http httptools": ("uvloop", "httptools"),
    }
    options, skipped = {}, []
    for name, (loop, parser) in wanted.items():
        absent = missing(*(module for module in (loop, parser) if module != "asyncio"))
        if absent:
            skipped.append(f"{name}: skipped, {' and '.join(absent)} not installed (pip install {' '.join(absent)})")
        else:
            options[name] = (loop, parser)
    env = choice.server_env()
    with contextlib.ExitStack() as stack:
        started = {name: stack.enter_context(servers.ours_uvicorn(loop, parser, workers=WORKERS, env=env))
                   for name, (loop, parser) in options.items()}  # fmt: skip
        section.emit(
            title + (f"; server path: {server_path(next(iter(started.values())))}" if started else ""),
            "",
            *(f"- {line}" for line in skipped),
            *([""] if skipped else []),
        )
        if not started:
            return section
        targets = {name: Post(server.url + "/init", SMALL_BODY) for name, server in started.items()}
        _warm_up(targets, tool)
        busy = _alternate(targets, rounds, seconds, tool, THROUGHPUT)
    rows = [[name, f"{median(r.requests_per_s for r in results):.0f}", str(sum(r.failures for r in results)),
             results[0].tool] for name, results in busy.items()]  # fmt: skip
    section.table(["uvicorn options", f"req/s ({THROUGHPUT['connections']} connections)", "failed", "tool"], rows)
    if len(busy) == 2:
        plain, fast = list(busy)
        ratio = median(f.requests_per_s / p.requests_per_s for f, p in zip(busy[fast], busy[plain], strict=True))
        section.emit(f"uvloop + httptools / asyncio + h11: {ratio_text(ratio)} (median of per-round ratios).", "")
    else:
        section.emit("No comparison: only one of the two configurations could run here.", "")
    return section
