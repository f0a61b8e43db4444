"""The plot docs/NETWORK.md shows is what the service draws for the request it names; the README shows
the playground's screenshot."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[2] / "docs"
REQUEST = {"seed": 0, "input_width": 256,
           "layers": [{"width": 256, "activation": "tanh", "scheme": "xavier_normal", "repeat": 50}]}  # fmt: skip


NUMBER = re.compile(r"-?\d+(?:\.(\d+))?")


def same_drawing(drawn: str, committed: str) -> bool:
    """The same SVG up to the last printed digit of each number. The plotted values come from the
    network's forward and backward passes, whose BLAS products round differently on other CPUs and
    BLAS builds (by ~1e-15): a number printed to two decimals may then flip by one in its last digit."""
    if NUMBER.sub("#", drawn) != NUMBER.sub("#", committed):
        return False
    for got, want in zip(NUMBER.finditer(drawn), NUMBER.finditer(committed), strict=True):
        last_digit = 10.0 ** -len(want.group(1) or "")
        if abs(float(got.group()) - float(want.group())) > last_digit * 1.000001:
            return False
    return True


def test_the_comparison_allows_a_last_digit_and_nothing_more():
    assert same_drawing('<text x="163.88">49.7x</text>', '<text x="163.89">49.6x</text>')
    assert not same_drawing('<text x="163.88">49.7x</text>', '<text x="163.86">49.7x</text>')
    assert not same_drawing('<text x="163.88">49.7x</text>', '<text y="163.88">49.7x</text>')


@pytest.mark.slow  # a 50-layer stack
def test_docs_propagation_svg_is_current(client):
    r = client.post("/diagnostics/network", json=REQUEST, headers={"accept": "image/svg+xml"})
    assert r.status_code == 200
    assert same_drawing(r.text, (DOCS / "propagation.svg").read_text()), "regenerate docs/propagation.svg from REQUEST"
    page = (DOCS / "NETWORK.md").read_text()
    assert "![signal propagation](propagation.svg)" in page and '"repeat": 50' in page


def test_readme_shows_the_playground_screenshot_the_browser_test_takes():
    readme = (DOCS.parent / "README.md").read_text()
    assert "](docs/playground.png)" in readme
    png = (DOCS / "playground.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000  # a real screenshot, not a placeholder
