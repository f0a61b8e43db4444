"""The plot the README shows is what the service draws for the request the README names."""

from pathlib import Path

DOCS = Path(__file__).parents[2] / "docs"
REQUEST = {"seed": 0, "input_width": 256,
           "layers": [{"width": 256, "activation": "tanh", "scheme": "xavier_normal", "repeat": 50}]}  # fmt: skip


def test_docs_propagation_svg_is_current(client):
    r = client.post("/diagnostics/network", json=REQUEST, headers={"accept": "image/svg+xml"})
    assert r.status_code == 200
    assert r.text == (DOCS / "propagation.svg").read_text(), "regenerate docs/propagation.svg from REQUEST"
    readme = (DOCS.parent / "README.md").read_text()
    assert "![signal propagation](docs/propagation.svg)" in readme and '"repeat": 50' in readme


def test_readme_shows_the_playground_screenshot_the_browser_test_takes():
    readme = (DOCS.parent / "README.md").read_text()
    assert "](docs/playground.png)" in readme
    png = (DOCS / "playground.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000  # a real screenshot, not a placeholder
