"""SVG plots, written by hand: the signal-propagation plot of a network and a tensor's histogram
against its intended density. Plain SVG 1.1 with no scripts or external references, so any
browser, README or notebook shows it, and the same report always gives the same text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np

__all__ = ["COLORS", "histogram_svg", "propagation_svg"]

WIDTH, HEIGHT = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 190, 40, 50
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
_HALF_MAX = float(np.finfo(np.float64).max) / 2


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


class _Canvas:
    """A plot area with linear x and linear or log10 y."""

    def __init__(
        self,
        title: str,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
        log_y: bool,
        integer_x: bool = False,
    ):
        self.title, self.x_range, self.y_range, self.log_y = title, x_range, y_range, log_y
        self.integer_x = integer_x
        self.parts: list[str] = []

    def x(self, value: float) -> float:
        lo, hi = self.x_range
        return LEFT + (value - lo) / ((hi - lo) or 1.0) * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        lo, hi = self.y_range
        if self.log_y:
            value, lo, hi = math.log10(value), math.log10(lo), math.log10(hi)
        return HEIGHT - BOTTOM - (value - lo) / ((hi - lo) or 1.0) * (HEIGHT - TOP - BOTTOM)

    def polyline(self, xs: Sequence[float], ys: Sequence[float], color: str, label: str, dashed: bool = False) -> None:
        points = " ".join(f"{_num(self.x(a))},{_num(self.y(b))}" for a, b in zip(xs, ys, strict=True))
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        self.parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{points}"><title>'
                          f"{escape(label)}</title></polyline>")  # fmt: skip

    def bars(self, edges: np.ndarray, heights: np.ndarray, color: str) -> None:
        base = self.y(self.y_range[0])
        for left, right, h in zip(edges[:-1], edges[1:], heights, strict=True):
            top = self.y(max(h, self.y_range[0]))
            self.parts.append(
                f'<rect x="{_num(self.x(left))}" y="{_num(top)}" width="{_num(self.x(right) - self.x(left))}" '
                f'height="{_num(base - top)}" fill="{color}" fill-opacity="0.45"/>'
            )

    def render(self, x_label: str, y_label: str, legend: Sequence[tuple[str, str, bool]]) -> str:
        inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
            'font-family="sans-serif" font-size="12">',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
            f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15">{escape(self.title)}</text>',
            f'<rect x="{LEFT}" y="{TOP}" width="{inner_w}" height="{inner_h}" fill="none" stroke="#444"/>',
        ]
        for value in self._y_ticks():
            y = _num(self.y(value))
            label = f"1e{round(math.log10(value))}" if self.log_y else f"{value:.3g}"
            out.append(f'<line x1="{LEFT}" x2="{LEFT + inner_w}" y1="{y}" y2="{y}" stroke="#ddd"/>')
            out.append(f'<text x="{LEFT - 6}" y="{y}" text-anchor="end" dominant-baseline="middle">{label}</text>')
        ticks = np.linspace(*self.x_range, 6)
        if self.integer_x:
            ticks = np.unique(np.round(ticks))
        for value in ticks:
            x = _num(self.x(value))
            text = f"{int(value)}" if self.integer_x else f"{value:.3g}"
            out.append(f'<text x="{x}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{text}</text>')
        out.append(f'<text x="{LEFT + inner_w / 2}" y="{HEIGHT - 12}" text-anchor="middle">{escape(x_label)}</text>')
        out.append(f'<text transform="translate(16 {TOP + inner_h / 2}) rotate(-90)" text-anchor="middle">'
                   f"{escape(y_label)}</text>")  # fmt: skip
        out += self.parts
        for i, (label, color, dashed) in enumerate(legend):
            row = TOP + 14 + 20 * i
            dash = ' stroke-dasharray="6 4"' if dashed else ""
            out.append(f'<line x1="{WIDTH - RIGHT + 12}" x2="{WIDTH - RIGHT + 36}" y1="{row}" y2="{row}" '
                       f'stroke="{color}" stroke-width="2"{dash}/>')  # fmt: skip
            out.append(f'<text x="{WIDTH - RIGHT + 42}" y="{row}" dominant-baseline="middle">{escape(label)}</text>')
        out.append("</svg>")
        return "\n".join(out) + "\n"

    def _y_ticks(self) -> list[float]:
        lo, hi = self.y_range
        if not self.log_y:
            return list(np.linspace(lo, hi, 6))
        first, last = math.ceil(math.log10(lo)), math.floor(math.log10(hi))
        step = max(1, math.ceil((last - first + 1) / 8))
        return [10.0**k for k in range(first, last + 1, step)]


def propagation_svg(report: dict, title: str = "Signal propagation") -> str:
    """Per-layer pre-activation variance, output second moment and gradient variance (log scale),
    with the mean-field prediction dashed."""
    rows = report["layers"]
    layers = [r["layer"] + 1 for r in rows]
    series = [
        ("pre-activation q", [r["pre_variance"] for r in rows], COLORS[0], False),
        ("output 2nd moment", [r["post_second_moment"] for r in rows], COLORS[2], False),
        ("gradient variance", [r["grad_variance"] for r in rows], COLORS[1], False),
    ]
    predicted = report["stack"]["mean_field"].get("q")
    if predicted and all(math.isfinite(q) for q in predicted):
        series.append(("mean-field q", predicted, COLORS[0], True))
    positive = [v for _, values, _, _ in series for v in values if v > 0 and math.isfinite(v)]
    lo, hi = (min(positive), max(positive)) if positive else (1e-3, 1.0)
    lo, hi = max(lo, 1e-300), min(hi, 1e300)  # powers of ten around them stay within float64
    lo, hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
    if lo == hi:
        lo, hi = lo / 10, hi * 10
    canvas = _Canvas(title, (1, max(layers[-1], 2)), (lo, hi), log_y=True, integer_x=True)
    for label, values, color, dashed in series:
        clipped = [min(max(v, lo), hi) if math.isfinite(v) else hi for v in values]
        canvas.polyline(layers, clipped, color, label, dashed)
    return canvas.render("layer", "variance (log scale)", [(s[0], s[2], s[3]) for s in series])


def histogram_svg(values: np.ndarray, cdf, title: str, bins: int = 60) -> str:
    """Histogram (density) of ``values`` against the intended density (the CDF's differences)."""
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)  # all inf: an empty plot
    lo, hi = (min(max(v, -_HALF_MAX), _HALF_MAX) for v in (lo, hi))  # hi - lo must stay finite for the bins
    if lo == hi:
        pad = max(abs(lo) * 1e-3, 0.5)  # at 1e300, +-0.5 would not move the edges
        lo, hi = lo - pad, hi + pad
    edges = np.linspace(lo, hi, bins + 1)
    counts, _ = np.histogram(finite, bins=edges)
    density = counts / (max(finite.size, 1) * np.diff(edges))
    series: list[tuple[str, str, bool]] = [("values", COLORS[0], False)]
    intended = None
    if cdf is not None:
        fine = np.linspace(lo, hi, 4 * bins + 1)
        intended = np.diff(cdf(fine)) / np.diff(fine)
        series.append(("intended density", COLORS[1], False))
    top = max(float(density.max()), float(intended.max()) if intended is not None else 0.0) * 1.1 or 1.0
    canvas = _Canvas(title, (lo, hi), (0.0, top), log_y=False)
    canvas.bars(edges, density, COLORS[0])
    if intended is not None:
        centers = (fine[:-1] + fine[1:]) / 2
        canvas.polyline(list(centers), list(intended), COLORS[1], "intended density")
    return canvas.render("value", "density", series)
