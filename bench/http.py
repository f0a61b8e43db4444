"""HTTP benchmarks on real server processes over loopback (bench/servers.py), results in bench/results/http.md.

- e2e: POST /init of a 4096 x 4096 xavier_normal file with curl vs torch init + safetensors save in a torch process;
- memory: peak RSS of one worker while it streams a 1 GiB file (GET /init?shape=16384,16384);
- small: 256 x 256 requests per second and idle latency, ours (cached and distinct seeds) vs a minimal app;
- options: the same small requests under uvicorn's asyncio + h11 vs uvloop + httptools.

Rounds alternate between the things compared, so the noise of a shared machine hits all of them alike;
ratios are medians of the per-round ratios. Each figure names the tool that measured it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from service.core.generate import TensorSpec, generate

from . import servers
from .load import SEED_SLOT, Post, Result, curl, load
from .report import Goal, Section, median, progress, ratio_text

MIB = 1 << 20
E2E_SHAPE = [4096, 4096]
E2E_BODY = '{"seed": %d, "shape": [4096, 4096], "scheme": "xavier_normal"}'
BIG_PATH = "/init?shape=16384,16384&scheme=normal&std=0.02&seed=%d"  # 2^28 float32: a 1 GiB file
BIG_ENV = {"INITW_MAX_ELEMENTS": "300000000"}
MEMORY_GOAL_MIB = 256
SMALL_BODY = '{"seed": ' + SEED_SLOT + ', "shape": [256, 256], "scheme": "xavier_uniform"}'
CACHED_SEED = "12345"
WORKERS = 2  # the machine's cores
THROUGHPUT = {"connections": 16, "threads": 2}
IDLE = {"connections": 1, "threads": 1}
RATE_GOAL = 0.5
P99_GOAL_MS = 20.0


# A torch user's own process: torch and safetensors only. Each input line asks for one init + save and gets its
# time back, so rounds can alternate with the HTTP requests.
TORCH_USER = """
import sys, time
import safetensors.torch, torch
torch.set_num_threads(int(sys.argv[1]))
for _ in sys.stdin:
    start = time.perf_counter()
    weight = torch.nn.init.xavier_normal_(torch.empty(4096, 4096))
    safetensors.torch.save({"weight": weight})
    print(time.perf_counter() - start, flush=True)
"""


def torch_init_and_save() -> bytes:
    """The same in this process, where the core benchmark has tuned glibc malloc as the server does
    (service.core.parallel.keep_freed_memory): freed 64 MiB buffers stay mapped, so torch's save
    skips its page faults."""
    import safetensors.torch
    import torch

    weight = torch.nn.init.xavier_normal_(torch.empty(*E2E_SHAPE))
    return safetensors.torch.save({"weight": weight})


@contextlib.contextmanager
def torch_user() -> Iterator[Callable[[], float]]:
    """A clean torch process; yields a function that runs one init + save there and returns its seconds."""
    threads = str(os.cpu_count() or 1)
    process = subprocess.Popen([sys.executable, "-c", TORCH_USER, threads], stdin=subprocess.PIPE,
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


def e2e(runs: int) -> Section:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    section = Section()
    section.emit(f"## End to end: 4096 x 4096 xavier_normal, medians of {runs} rounds", "")
    rounds = []
    with servers.ours(workers=1) as server, torch_user() as torch_elsewhere:
        url = server.url + "/init"
        curl(url, E2E_BODY % 0)  # warm-up, every side: lazily built code paths and allocator pools
        torch_elsewhere()
        torch_init_and_save()
        for seed in range(1, runs + 1):  # a new seed each round: nothing remembered can answer
            fetch = curl(url, E2E_BODY % seed)
            if fetch.status != 200 or fetch.bytes < 4 * 4096 * 4096:
                raise RuntimeError(f"POST /init answered {fetch.status} with {fetch.bytes} bytes")
            clean = torch_elsewhere()
            tuned = _seconds(torch_init_and_save)
            values = _seconds(lambda s=seed: generate(TensorSpec("weight", tuple(E2E_SHAPE), "xavier_normal"), s))
            rounds.append({"fetch": fetch, "clean": clean, "tuned": tuned, "values": values})
            progress(f"e2e round {seed}: curl {fetch.total_s * 1e3:.0f} ms, torch {clean * 1e3:.0f} ms")

    def ms(key: str) -> str:
        return f"{median(r[key] for r in rounds) * 1e3:.1f}"

    for r in rounds:
        r.update(total=r["fetch"].total_s, first=r["fetch"].first_byte_s)
        r.update(transfer=r["total"] - r["first"], ratio=r["clean"] / r["total"], tuned_ratio=r["tuned"] / r["total"])
    ratio, tuned_ratio = median(r["ratio"] for r in rounds), median(r["tuned_ratio"] for r in rounds)
    section.table(
        ["what", "ms", "tool"],
        [
            ["initw: POST /init over loopback, whole round trip (64 MiB file)", ms("total"), "curl time_total"],
            ["- of which before the first byte (values, header, copy, SHA-256)", ms("first"),
             "curl time_starttransfer"],
            ["- of which the body's transfer", ms("transfer"), "curl"],
            ["initw values alone, in-process (`generate`, 2 threads)", ms("values"), "perf_counter"],
            ["torch: `xavier_normal_(torch.empty(4096, 4096))` + `safetensors.torch.save`, own process",
             ms("clean"), "perf_counter"],
            ["torch: the same in this process (initw's malloc tuning applies)", ms("tuned"), "perf_counter"],
        ],
    )  # fmt: skip
    goal = Goal("e2e: HTTP round trip <= torch init + save", "torch / initw >= 1.0x",
                f"{ratio_text(ratio)} (torch with initw's malloc tuning: {ratio_text(tuned_ratio)})",
                ratio >= 1.0, "curl vs torch in its own process")  # fmt: skip
    section.emit(
        f"Goal: {goal.target}: {goal.verdict} ({goal.measured}; medians of per-round ratios). Judged against torch "
        "in a process of its own, as a user runs it; the in-process figure shows what glibc's default malloc "
        "costs torch (page faults on each fresh 64 MiB buffer).",
        "",
    )
    section.goals.append(goal)
    return section


def memory(runs: int) -> Section:
    section = Section()
    section.emit(f"## Memory: one worker streams a 1 GiB file (GET {BIG_PATH % 0}), medians of {runs} servers", "")
    samples = []
    for run in range(runs):  # a fresh server each run: VmHWM only ever grows
        with servers.ours(workers=1, env=BIG_ENV) as server:
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


def small(seconds: float, rounds: int, tool: str) -> Section:
    section = Section()
    section.emit(
        f"## Small requests: POST /init 256 x 256 xavier_uniform, {WORKERS} workers, medians of {rounds} rounds "
        f"of {seconds:g} s",
        "",
    )
    with servers.ours(workers=WORKERS) as ours:
        url = ours.url + "/init"
        size = response_bytes(url, SMALL_BODY.replace(SEED_SLOT, CACHED_SEED))
        with servers.minimal(size, workers=WORKERS) as minimal:
            targets = {
                "minimal app (constant body)": Post(minimal.url + "/init", SMALL_BODY.replace(SEED_SLOT, "0")),
                "initw, identical body (cached)": Post(url, SMALL_BODY.replace(SEED_SLOT, CACHED_SEED)),
                "initw, distinct seed per request": Post(url, SMALL_BODY),
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
    section.table(
        ["endpoint", f"req/s ({THROUGHPUT['connections']} connections)", "vs minimal",
         "idle p50 ms (1 connection)", "idle p99 ms", "failed", "tool"],
        rows,
    )  # fmt: skip
    distinct, cached = "initw, distinct seed per request", "initw, identical body (cached)"
    p99 = median(r.p99_ms for r in idle[distinct])
    goals = [
        Goal("small: request rate vs minimal FastAPI (distinct seeds)", f">= {RATE_GOAL}x",
             f"{ratios[distinct]:.2f}x (cached: {ratios[cached]:.2f}x)", ratios[distinct] >= RATE_GOAL,
             busy[distinct][0].tool),
        Goal("small: idle p99 latency (distinct seeds)", f"< {P99_GOAL_MS:g} ms",
             f"{p99:.2f} ms (cached: {median(r.p99_ms for r in idle[cached]):.2f} ms)", p99 < P99_GOAL_MS,
             idle[distinct][0].tool),
    ]  # fmt: skip
    for goal in goals:
        section.emit(f"Goal: {goal.name}: {goal.target}: {goal.verdict} ({goal.measured}).")
    section.emit("")
    section.goals += goals
    return section


def server_options(seconds: float, rounds: int, tool: str) -> Section:
    section = Section()
    section.emit(
        f"## Server options: distinct-seed small requests, `python -m uvicorn service.app:app --workers {WORKERS}`, "
        f"medians of {rounds} rounds of {seconds:g} s",
        "",
    )
    plain, fast = "--loop asyncio --http h11", "--loop uvloop --http httptools"
    with (
        servers.ours_uvicorn("asyncio", "h11", workers=WORKERS) as plain_server,
        servers.ours_uvicorn("uvloop", "httptools", workers=WORKERS) as fast_server,
    ):
        targets = {
            plain: Post(plain_server.url + "/init", SMALL_BODY),
            fast: Post(fast_server.url + "/init", SMALL_BODY),
        }
        _warm_up(targets, tool)
        busy = _alternate(targets, rounds, seconds, tool, THROUGHPUT)
    ratio = median(f.requests_per_s / p.requests_per_s for f, p in zip(busy[fast], busy[plain], strict=True))
    rows = [[name, f"{median(r.requests_per_s for r in results):.0f}", str(sum(r.failures for r in results)),
             results[0].tool] for name, results in busy.items()]  # fmt: skip
    section.table(["uvicorn options", f"req/s ({THROUGHPUT['connections']} connections)", "failed", "tool"], rows)
    section.emit(f"uvloop + httptools / asyncio + h11: {ratio_text(ratio)} (median of per-round ratios).", "")
    return section
