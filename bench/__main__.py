"""The whole benchmark suite in one command; tables print as they are measured.

    python -m bench                          # everything (about 13 minutes on 2 cores)
    python -m bench --quick                  # fewer repeats, shorter loads, sizes up to 1e8 (about 6 minutes)
    python -m bench --only small,e2e         # some sections: core, e2e, memory, small, attacks, scaling
    python -m bench --tool python            # the Python load generator even when wrk is installed
    python -m bench --kernels numpy          # initw's numpy path only (default: compiled and numpy side by side)

Writes bench/results/core.md (bench/core.py, with the per-element limits of bench/limits.py),
http.md (e2e, memory, small requests and server options), scaling.md and summary.md: every row of
issue 12's table with its goal, met or MISSED, and the ns per element against the measured limit,
then the other goals and the machine. Everything optional is skipped with a line saying so: torch
(pip install torch==2.13.0; without it no torch column and no torch goal is judged), wrk (a Python
load generator instead), uvloop and httptools (their server-option row), curl (e2e and memory), the
compiled kernels (the numpy path alone). Every table names the value path it measured.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import attacks, core, http, paths, scaling
from .load import tool_name, tool_version
from .report import GOAL_HEADER, Goal, Section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
SECTIONS = ("core", "e2e", "memory", "small", "attacks", "scaling")


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


ROWS = [target.work for target in core.GOALS.values()] + [http.E2E_WORK, http.SMALL_WORK]
ROW_SECTION = [*("core" for _ in core.GOALS), "e2e", "small"]


def core_goals(rows: list[core.Row], timed: tuple[str, ...]) -> list[Goal]:
    """One goal per row of issue 12's table, judged on its worst scheme (every scheme of the row must reach it)."""
    goals = []
    for place, (key, target) in enumerate(core.GOALS.items()):
        judged = [row for row in rows if row.case.goal == key]
        if not judged:
            continue
        primary = judged[0].primary
        floor = f"torch / initw >= {target.floor:g}x"
        if primary not in judged[0].ratio:
            worst = max(judged, key=lambda row: row.ns_per_element())
            measured = "not judged: torch not installed; initw " + ", ".join(
                f"{row.label} {row.initw_s[primary] * 1e3:.1f} ms" for row in judged
            )
            goals.append(Goal(target.work, floor, measured, None, "perf_counter, in-process",
                              worst.ns_per_element(), worst.limit_ns, place))  # fmt: skip
            continue
        worst = min(judged, key=lambda row: row.ratio[primary])
        met = [row for row in judged if row.met]
        measured = f"{worst.ratio[primary]:.2f}x"
        if len(judged) > 1:
            best = max(row.ratio[primary] for row in judged)
            measured += f" (worst: {worst.label}; best {best:.2f}x; {len(met)} of {len(judged)} reach it)"
        measured += f", {worst.initw_s[primary] * 1e3:.1f} ms vs torch {(worst.torch_s or 0) * 1e3:.1f} ms"
        for other in timed[1:]:
            measured += f"; {other} path {min(row.ratio[other] for row in judged):.2f}x"
        goals.append(Goal(f"{target.work} [{primary}]", floor, measured, len(met) == len(judged),
                          "perf_counter, in-process", worst.ns_per_element(), worst.limit_ns, place))  # fmt: skip
    return goals


def issue_table(goals: list[Goal], only: list[str], failed: dict[str, str]) -> list[list[str]]:
    """Every row of issue 12's table in its order; a row whose section did not run, or failed, says so."""
    placed = {goal.row: goal for goal in goals if goal.row is not None}
    cells = []
    for place, work in enumerate(ROWS):
        if place in placed:
            cells.append(placed[place].cells())
        else:
            section = ROW_SECTION[place]
            why = "not in --only" if section not in only else failed.get(section, "no result")
            cells.append([work, "", f"not measured ({section} section: {why})", "", "", "", "", ""])
    return cells


def attempt(name: str, failed: dict[str, str], measure: Callable[[], Section]) -> Section:
    """One HTTP section; a server that does not start (others may be editing service/) fails that section
    alone, said in its table and the summary, and the suite goes on."""
    try:
        return measure()
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        failed[name] = f"FAILED: {first}"
        section = Section()
        section.emit(f"## {name}: FAILED ({first})", "")
        return section


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
    parser.add_argument("--kernels", choices=paths.CHOICES, default="auto",
                        help="initw value paths: auto (both when the compiled kernels are built, unless "
                             "INITW_KERNELS=numpy), both, compiled, numpy; servers run the first")  # fmt: skip
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    # SIGTERM unwinds like Ctrl-C, so every server started so far is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    effort = QUICK if args.quick else FULL
    tool = tool_name(args.tool)
    choice = paths.resolve(args.kernels)
    print(f"initw value paths: {choice.note}: " + "; ".join(f"{p} = {paths.text(p)}" for p in choice.timed))
    if tool == "python" and args.tool == "auto":
        print("wrk is not installed (apt-get install wrk): the Python load generator measures the small requests")
    RESULTS.mkdir(exist_ok=True)
    started, code = time.monotonic(), service_fingerprint()
    goals: list[Goal] = []
    http_sections: list[Section] = []

    if "core" in only:
        rows: list[core.Row] = []
        core.run(effort.core_repeats, rows, choice)
        goals += core_goals(rows, choice.timed)
        print()
    failed: dict[str, str] = {}
    if "e2e" in only:
        http_sections.append(attempt("e2e", failed, lambda: http.e2e(effort.e2e_rounds, choice)))
    if "memory" in only:
        http_sections.append(attempt("memory", failed, lambda: http.memory(effort.memory_servers, choice)))
    if "small" in only:
        seconds, rounds = effort.load_seconds, effort.load_rounds
        http_sections.append(attempt("small", failed, lambda: http.small(seconds, rounds, tool, choice)))
        http_sections.append(
            attempt("server options", failed, lambda: http.server_options(seconds, rounds, tool, choice))
        )
    if "attacks" in only:
        http_sections.append(attempt("attacks", failed, lambda: attacks.attacks(choice)))
    for section in http_sections:
        goals += section.goals
    if "scaling" in only:
        scaling.run(effort.quick, choice.primary)  # writes scaling.md itself

    write_http(http_sections, effort.quick)
    summary = Section()
    summary.emit(f"# Benchmark summary{' (--quick)' if effort.quick else ''}: `python -m bench`", "")
    code_now = service_fingerprint()
    summary.emit(
        *machine(tool),
        f"- measured: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- code: {code}"
        + ("" if code_now == code else f"; WARNING: service/ changed during the run (now {code_now})"),
        f"- initw value paths: {choice.note}; " + "; ".join(f"{path} = {paths.text(path)}" for path in choice.timed),
        f"- sections: {', '.join(only)}; {(time.monotonic() - started) / 60:.1f} minutes",
        "",
        "## Issue 12's table: every row against its goal (the goals are floors)",
        "",
        f"Core rows: 4096 x 4096 float32 unless said, torch and initw on {os.cpu_count()} threads, judged on the "
        f"{choice.primary} path. ns/element/core = initw's wall time x threads / elements, for the row's worst "
        "scheme; limit = the pieces it cannot avoid, each measured alone on one thread (Philox words alone, the "
        "AS241 central branch alone, LAPACK's QR; core.md states them); ns / limit: 1.00x is at the limit.",
        "",
    )
    summary.table(GOAL_HEADER, issue_table(goals, only, failed))
    if failed:
        summary.emit(*(f"- {name} section {why}" for name, why in failed.items()), "")
    others = [goal for goal in goals if goal.row is None]
    if others:
        summary.emit("## Other goals", "")
        summary.table(["goal", "target", "measured", "verdict", "tool"],
                      [[g.name, g.target, g.measured, g.verdict, g.tool] for g in others])  # fmt: skip
    summary.emit("Details: core.md, http.md, scaling.md beside this file.")
    (RESULTS / "summary.md").write_text("\n".join(summary.lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
