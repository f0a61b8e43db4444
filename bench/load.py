"""Load generators: wrk when installed, else a small Python one (threads, http.client keep-alive).

    load(Post(url, body), connections=16, threads=2, seconds=10)              # throughput
    load(Post(url, body), connections=1, threads=1, seconds=10)               # idle latency p50/p99

A body may contain ``{seed}``: each request then gets a seed never sent before (per run, per wrk
thread), so no cache can answer it. Every result names the tool that produced it. The Python
generator is bound by its own GIL (about 7,000 requests/s here, where wrk reaches 11,000): its
figures for fast endpoints are lower bounds, so ratios to them read too high.
"""

from __future__ import annotations

import http.client
import itertools
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

SEED_SLOT = "{seed}"
SEEDS_PER_THREAD = 10**9  # wrk threads (and runs) draw seeds from disjoint blocks
_runs = itertools.count(1)


@dataclass(frozen=True)
class Post:
    url: str
    body: str  # JSON text; SEED_SLOT, if present, is replaced by a fresh seed per request

    @property
    def distinct(self) -> bool:
        return SEED_SLOT in self.body


@dataclass(frozen=True)
class Result:
    tool: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    failures: int  # non-2xx answers and socket errors


def tool_name(choice: str = "auto") -> str:
    """'wrk' or 'python': wrk if asked for or found on PATH, unless the Python generator is asked for."""
    if choice == "python" or (choice == "auto" and shutil.which("wrk") is None):
        return "python"
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk), use --tool python")
    return "wrk"


def tool_version(tool: str) -> str:
    if tool == "python":
        return "python http.client (threads, keep-alive)"
    text = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout  # exits 1 on --version
    return text.split("Copyright")[0].strip() or "wrk"


def load(target: Post, connections: int, threads: int, seconds: float, tool: str = "wrk") -> Result:
    base_seed = next(_runs) * SEEDS_PER_THREAD * 64
    if tool == "wrk":
        return _wrk(target, connections, threads, seconds, base_seed)
    return _python(target, connections, seconds, base_seed)


# --- wrk ---------------------------------------------------------------------------------------

_LUA_CONSTANT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[%(prefix)s]]
"""
# Each wrk thread has its own Lua state: setup() numbers them so their seeds never overlap.
_LUA_DISTINCT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local prefix, suffix = [[%(prefix)s]], [[%(suffix)s]]
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  seed = tonumber(args[1]) + id * %(per_thread)d
end
function request()
  seed = seed + 1
  return wrk.format(nil, nil, nil, prefix .. string.format("%%.0f", seed) .. suffix)
end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def _wrk(target: Post, connections: int, threads: int, seconds: float, base_seed: int) -> Result:
    prefix, _, suffix = target.body.partition(SEED_SLOT)
    template = _LUA_DISTINCT if target.distinct else _LUA_CONSTANT
    script = template % {"prefix": prefix, "suffix": suffix, "per_thread": SEEDS_PER_THREAD}
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", file.name]
        out = subprocess.run([*command, target.url, "--", str(base_seed)], capture_output=True, text=True, check=True)
    text = out.stdout
    # wrk's latency histogram: "     50%    4.51ms" ... "     99%   11.02ms"
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)$", text, re.MULTILINE))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    failures = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if errors:
        failures += sum(int(n) for n in errors.groups())
    return Result("wrk", rate, _ms(percentiles["50"]), _ms(percentiles["99"]), failures)


# --- Python fallback -----------------------------------------------------------------------------


def _python(target: Post, connections: int, seconds: float, base_seed: int) -> Result:
    url = urlsplit(target.url)
    seeds = itertools.count(base_seed)  # next() on a count is atomic under the GIL
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        mine: list[float] = []
        failed = 0
        headers = {"Content-Type": "application/json"}
        while time.perf_counter() < deadline:
            body = target.body.replace(SEED_SLOT, str(next(seeds))) if target.distinct else target.body
            start = time.perf_counter()
            try:
                connection.request("POST", url.path, body, headers)
                response = connection.getresponse()
                response.read()
                failed += not 200 <= response.status < 400
            except (OSError, http.client.HTTPException):
                failed += 1
                connection.close()
                continue
            mine.append(time.perf_counter() - start)
        connection.close()
        with lock:
            latencies.extend(mine)
            failures[0] += failed

    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(connections)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if len(latencies) < 2:
        raise RuntimeError(f"the Python load generator completed {len(latencies)} requests to {target.url}")
    cuts = statistics.quantiles(latencies, n=100)
    return Result("python", len(latencies) / elapsed, cuts[49] * 1e3, cuts[98] * 1e3, failures[0])


# --- curl ----------------------------------------------------------------------------------------


CURL_FORMAT = "%{time_total} %{time_starttransfer} %{size_download} %{http_code}"


@dataclass(frozen=True)
class Fetch:
    total_s: float
    first_byte_s: float  # the server's work before its first byte (headers), plus one round trip
    bytes: int
    status: int


def curl(url: str, body: str | None = None, output: Path = Path("/dev/null")) -> Fetch:
    """One request with curl (a fresh connection), timed by curl itself: no Python in the path."""
    command = ["curl", "-s", "-o", str(output), "-w", CURL_FORMAT]
    if body is not None:
        command += ["-H", "content-type: application/json", "-d", body]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    total, first, size, status = out.stdout.split()
    return Fetch(float(total), float(first), int(size), int(status))
