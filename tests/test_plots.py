"""service.plots: hand-written SVG that any viewer shows, the same text for the same input, and no
failure on the values a bad init produces (inf, NaN, zeros, a constant tensor)."""

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from service.plots import COLORS, histogram_svg, propagation_svg

SVG = "{http://www.w3.org/2000/svg}"


def parsed(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    assert not root.findall(f".//{SVG}script") and not root.findall(f".//{SVG}image")
    assert all(not key.endswith("href") for node in root.iter() for key in node.attrib)  # no external references
    return root


def numbers(root: ET.Element) -> list[float]:
    """Every coordinate the drawing uses."""
    out = []
    for node in root.iter():
        for key in ("x", "y", "x1", "x2", "y1", "y2", "width", "height"):
            if key in node.attrib:
                out.append(float(node.attrib[key]))
        for point in node.attrib.get("points", "").split():
            out += [float(v) for v in point.split(",")]
    return out


def report(q, post=None, grad=None, predicted=None):
    rows = [{"layer": i, "pre_variance": v, "post_second_moment": (post or q)[i], "grad_variance": (grad or q)[i]}
            for i, v in enumerate(q)]  # fmt: skip
    return {"layers": rows, "stack": {"mean_field": {"q": predicted}}}


def polylines(root: ET.Element) -> dict[str, list[tuple[float, float]]]:
    return {
        line.find(f"{SVG}title").text: [tuple(map(float, p.split(","))) for p in line.get("points").split()]
        for line in root.iter(f"{SVG}polyline")
    }


def test_propagation_has_one_point_per_layer_per_series_and_the_dashed_mean_field():
    q = [1.0 / (i + 1) for i in range(12)]
    root = parsed(propagation_svg(report(q, predicted=[v * 1.1 for v in q]), "tanh: 12 layers"))
    lines = polylines(root)
    assert set(lines) == {"pre-activation q", "output 2nd moment", "gradient variance", "mean-field q"}
    assert all(len(points) == 12 for points in lines.values())
    dashed = [line for line in root.iter(f"{SVG}polyline") if line.get("stroke-dasharray")]
    assert [line.find(f"{SVG}title").text for line in dashed] == ["mean-field q"]
    assert "tanh: 12 layers" in "".join(root.itertext())


def test_propagation_draws_larger_variances_higher_on_a_log_scale():
    root = parsed(propagation_svg(report([1e-4, 1e-2, 1.0, 1e2])))
    ys = [y for _, y in polylines(root)["pre-activation q"]]
    steps = [a - b for a, b in zip(ys, ys[1:], strict=False)]  # SVG's y grows downwards
    assert all(step > 0 for step in steps) and max(steps) - min(steps) < 0.02  # equal decades, equal steps
    labels = "".join(root.itertext())
    assert "1e-4" in labels and "1e2" in labels


@pytest.mark.parametrize(
    "q",
    [
        [math.inf, math.nan, 1.0],
        [0.0, 0.0, 0.0],
        [1e-320, 1e300, 1.0],
        [math.nan, math.nan],
        [1.0],
    ],
    ids=["inf and nan", "all zero", "extreme", "all nan", "one layer"],
)
def test_propagation_handles_non_finite_and_degenerate_reports(q):
    root = parsed(propagation_svg(report(q, predicted=[math.nan] * len(q))))
    assert all(math.isfinite(v) for v in numbers(root))
    assert "mean-field q" not in polylines(root)  # a prediction with NaN is left out


def test_histogram_has_a_bar_per_bin_and_the_intended_density():
    values = np.linspace(-1.0, 1.0, 10_001)
    uniform_cdf = lambda x: np.clip((x + 1.0) / 2.0, 0.0, 1.0)  # noqa: E731
    root = parsed(histogram_svg(values, uniform_cdf, "U(-1, 1)", bins=40))
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("fill") == COLORS[0]]
    assert len(bars) == 40
    heights = [float(b.get("height")) for b in bars]
    assert max(heights) - min(heights) <= 0.02 * max(heights) + 0.01  # a flat histogram for uniform values
    (density,) = polylines(root).values()
    assert len({y for _, y in density}) == 1  # the uniform density is flat too
    legend = "".join(root.itertext())
    assert "values" in legend and "intended density" in legend


def test_histogram_without_a_density_draws_only_the_bars():
    root = parsed(histogram_svg(np.arange(100.0), None, "no theory", bins=10))
    assert not polylines(root) and "intended density" not in "".join(root.itertext())


@pytest.mark.parametrize(
    "values",
    [
        np.array([np.inf, -np.inf, np.nan]),
        np.array([3.0, 3.0, 3.0]),
        np.array([1e300, 1e300]),
        np.array([-np.finfo(np.float64).max, np.finfo(np.float64).max]),
        np.array([0.0, np.nan, 1.0, np.inf]),
    ],
    ids=["nothing finite", "constant", "constant huge", "whole float64 range", "mixed"],
)
def test_histogram_handles_non_finite_and_degenerate_values(values):
    with np.errstate(all="raise"):
        root = parsed(histogram_svg(values, None, "bad init", bins=8))
    assert all(math.isfinite(v) for v in numbers(root))


def test_text_is_escaped():
    title = 'w<1> & "b"</text><script>alert(1)</script>'
    for text in (histogram_svg(np.arange(10.0), None, title), propagation_svg(report([1.0, 2.0]), title)):
        root = parsed(text)
        assert title in "".join(root.itertext())


def test_the_same_input_gives_the_same_text():
    values = np.random.default_rng(0).standard_normal(1000)
    assert histogram_svg(values, None, "t") == histogram_svg(values.copy(), None, "t")
    r = report([1.0, 0.5, 0.25], predicted=[1.0, 0.5, 0.25])
    assert propagation_svg(r) == propagation_svg(report([1.0, 0.5, 0.25], predicted=[1.0, 0.5, 0.25]))
