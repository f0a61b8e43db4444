"""What every section hands back: markdown lines to print and save, and goals for the summary."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Goal:
    """One row of the summary. ``met`` None: not judged (``measured`` says why). ``ns`` and ``limit``:
    ns per element per core of the judged row and its measured limit, where they apply."""

    name: str
    target: str
    measured: str
    met: bool | None
    tool: str = ""
    ns: float | None = None
    limit: float | None = None
    row: int | None = None  # its place in issue 12's table (None: a goal outside that table)

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "not judged"}[self.met]

    def cells(self) -> list[str]:
        near = "" if self.ns is None or self.limit is None else f"{self.ns / self.limit:.2f}x"
        limit = "n/a (compiled kernels not built)" if self.ns is not None and self.limit is None else _ns(self.limit)
        return [self.name, self.target, self.measured, self.verdict, _ns(self.ns), limit, near, self.tool]


GOAL_HEADER = ["work", "goal", "measured", "verdict", "ns/element/core", "limit ns/element", "ns / limit", "tool"]


def _ns(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


@dataclass
class Section:
    lines: list[str] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)

    def emit(self, *lines: str) -> None:
        """Print as it goes (the suite takes minutes) and keep for the results file."""
        print("\n".join(lines), flush=True)
        self.lines.extend(lines)

    def table(self, header: Iterable[str], rows: Iterable[Iterable[str]]) -> None:
        header = list(header)
        self.emit(
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows),
            "",
        )


def progress(text: str) -> None:
    """Progress goes to stderr, so stdout holds only the tables."""
    print(f"  .. {text}", file=sys.stderr, flush=True)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ratio_text(value: float) -> str:
    return f"{value:.2f}x"
