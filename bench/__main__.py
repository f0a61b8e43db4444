"""The whole benchmark suite in one command; tables print as they are measured.

    python -m bench                          # everything (about 11 minutes on 2 cores)
    python -m bench --quick                  # fewer repeats, shorter loads, sizes up to 1e8 (about 3.5 minutes)
    python -m bench --only small,e2e         # some sections: core, e2e, memory, small, scaling
    python -m bench --tool python            # the Python load generator even when wrk is installed

Writes bench/results/core.md (bench/core.py), http.md (e2e, memory, small requests and server
options), scaling.md and summary.md (every goal, met or MISSED, and the machine). Needs torch
(pip install torch==2.13.0) for core, e2e and the torch column of scaling; curl for e2e and memory;
wrk is optional (apt-get install wrk), with a Python fallback.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import core, http, scaling
from .load import tool_name, tool_version
from .report import Goal, Section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
SECTIONS = ("core", "e2e", "memory", "small", "scaling")


@dataclass(frozen=True)
class Effort:
    core_repeats: int
    e2e_rounds: int
    memory_servers: int
    load_seconds: float
    load_rounds: int
    quick: bool


FULL = Effort(core_repeats=7, e2e_rounds=9, memory_servers=3, load_seconds=10, load_rounds=5, quick=False)
QUICK = Effort(core_repeats=3, e2e_rounds=3, memory_servers=2, load_seconds=3, load_rounds=3, quick=True)


def core_goals(rows: list[core.Row]) -> list[Goal]:
    """One goal per family, judged on its worst row (every scheme of the family must reach it)."""
    names = {"uniform": "core: uniform family vs torch", "normal": "core: normal family vs torch",
             "truncated": "core: truncated normal vs torch"}  # fmt: skip
    goals = []
    for family, name in names.items():
        judged = [row for row in rows if row.goal == family and row.ratio is not None]
        if not judged:
            continue
        worst = min(judged, key=lambda row: row.ratio or 0.0)
        met = [row for row in judged if row.met]
        measured = (
            f"worst {worst.ratio:.2f}x ({worst.label}), best {max(r.ratio or 0.0 for r in judged):.2f}x; "
            f"{len(met)} of {len(judged)} rows reach it"
        )
        goals.append(Goal(name, f"torch / initw >= {core.GOALS[family]:g}x", measured, len(met) == len(judged),
                          "perf_counter, in-process"))  # fmt: skip
    return goals


def machine(tool: str) -> list[str]:
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    import uvicorn

    loop = "uvloop" if _importable("uvloop") else "asyncio"
    parser = "httptools" if _importable("httptools") else "h11"
    return [
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"- python {platform.python_version()}, numpy {np.__version__}, torch {torch_version}, "
        f"uvicorn {uvicorn.__version__} (--loop auto -> {loop}, --http auto -> {parser})",
        f"- load generator: {tool_version(tool)}; single requests: curl; memory: VmHWM from /proc",
    ]


def service_fingerprint() -> str:
    """The commit plus every service/ source file's mtime: others edit service/ while the suite runs,
    and a change mid-run means sections measured different code."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    files = sorted(ROOT.glob("service/**/*.py"))
    stamp = hashlib.sha256("".join(f"{f}:{f.stat().st_mtime_ns}" for f in files).encode()).hexdigest()[:12]
    return f"{commit.stdout.strip() or 'no git'} + service/ files {stamp}"


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def write_http(sections: list[Section], quick: bool) -> None:
    if sections:
        lines = [f"# HTTP benchmarks{' (--quick)' if quick else ''}", ""]
        lines += [line for section in sections for line in section.lines]
        (RESULTS / "http.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and shorter loads (< 5 minutes)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto", help="load generator")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    # SIGTERM unwinds like Ctrl-C, so every server started so far is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    effort = QUICK if args.quick else FULL
    tool = tool_name(args.tool)
    RESULTS.mkdir(exist_ok=True)
    started, code = time.monotonic(), service_fingerprint()
    goals: list[Goal] = []
    http_sections: list[Section] = []

    if "core" in only:
        rows: list[core.Row] = []
        core.run(effort.core_repeats, rows)
        goals += core_goals(rows)
        print()
    if "e2e" in only:
        http_sections.append(http.e2e(effort.e2e_rounds))
    if "memory" in only:
        http_sections.append(http.memory(effort.memory_servers))
    if "small" in only:
        http_sections.append(http.small(effort.load_seconds, effort.load_rounds, tool))
        http_sections.append(http.server_options(effort.load_seconds, effort.load_rounds, tool))
    for section in http_sections:
        goals += section.goals
    if "scaling" in only:
        scaling.run(effort.quick)  # writes scaling.md itself

    write_http(http_sections, effort.quick)
    summary = Section()
    summary.emit(f"# Benchmark summary{' (--quick)' if effort.quick else ''}: `python -m bench`", "")
    code_now = service_fingerprint()
    summary.emit(
        *machine(tool),
        f"- code: {code}"
        + ("" if code_now == code else f"; WARNING: service/ changed during the run (now {code_now})"),
        f"- sections: {', '.join(only)}; {(time.monotonic() - started) / 60:.1f} minutes",
        "",
    )
    if goals:
        summary.table(["goal", "target", "measured", "verdict", "tool"], [goal.cells() for goal in goals])
    else:
        summary.emit("No goals in these sections.", "")
    summary.emit("Details: core.md, http.md, scaling.md beside this file.")
    (RESULTS / "summary.md").write_text("\n".join(summary.lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
