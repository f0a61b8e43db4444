"""What every section hands back: markdown lines to print and save, and goals for the summary."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Goal:
    name: str
    target: str
    measured: str
    met: bool
    tool: str = ""

    @property
    def verdict(self) -> str:
        return "met" if self.met else "MISSED"

    def cells(self) -> list[str]:
        return [self.name, self.target, self.measured, self.verdict, self.tool]


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
