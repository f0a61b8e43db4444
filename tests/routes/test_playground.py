"""GET / (the playground page) and its assets, in process: content types, the CSP the page lives
under (no inline code, nothing from elsewhere), the API paths its script calls, the form's choices
against the service's, and the files' place in the wheel. The page itself runs in a browser in
tests/playground/test_browser.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from service.analysis.activations import NAMES as ACTIVATIONS
from service.core.dtypes import FLOAT_DTYPES
from service.routes.playground import CSP

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "service" / "playground"
ASSETS = {
    "/": "text/html; charset=utf-8",
    "/playground/app.js": "text/javascript; charset=utf-8",
    "/playground/style.css": "text/css; charset=utf-8",
}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] in ("script", "style"):
            self.script_text += data


def _tags(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("path", list(ASSETS))
def test_page_and_assets_are_served_with_their_types_and_policy(client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == ASSETS[path]
    assert answer.headers["content-security-policy"] == CSP
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-cache"
    name = "index.html" if path == "/" else path.rsplit("/", 1)[1]
    assert answer.content == (FILES / name).read_bytes()
    # Revalidation and HEAD.
    assert client.get(path, headers={"if-none-match": answer.headers["etag"]}).status_code == 304
    head = client.head(path)
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == answer.headers["etag"]


def test_only_the_listed_assets_exist(client) -> None:
    for path in ("/playground/", "/playground/index.html", "/playground/../pyproject.toml", "/playground/x.js"):
        assert client.get(path).status_code == 404, path
    assert client.post("/").status_code == 405


def test_the_page_is_not_part_of_the_api_contract(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(path.startswith("/playground") for path in paths)


def test_policy_allows_only_this_origin_and_no_inline_code() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CSP.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert "unsafe" not in CSP
    html = (FILES / "index.html").read_text()
    parsed = _tags(html)
    assert parsed.script_text.strip() == "", "inline script or style"
    scripts = [attrs for tag, attrs in parsed.tags if tag == "script"]
    assert [attrs["src"] for attrs in scripts] == ["/playground/app.js"]
    sheets = [attrs["href"] for tag, attrs in parsed.tags if tag == "link" and attrs.get("rel") == "stylesheet"]
    assert sheets == ["/playground/style.css"]
    for tag, attrs in parsed.tags:
        assert "style" not in attrs, tag  # a style attribute needs 'unsafe-inline'
        assert not [name for name in attrs if name.startswith("on")], tag  # so does an event handler
    for name in ("index.html", "app.js", "style.css"):
        text = (FILES / name).read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), f"{name} refers to another site"
        assert "eval(" not in text and "innerHTML" not in text, name


def test_the_script_calls_only_routes_the_app_has(client) -> None:
    script = (FILES / "app.js").read_text()
    called = set(re.findall(r'(?:post|fetch|json|svg)\("(/[a-z/]*)"', script))
    assert called == {"/schemes", "/diagnostics", "/diagnostics/network", "/init"}
    paths = client.get("/openapi.json").json()["paths"]
    assert "get" in paths["/schemes"]
    for path in called - {"/schemes"}:
        assert "post" in paths[path], path


def test_the_forms_choices_are_the_services() -> None:
    html = (FILES / "index.html").read_text()

    def options(select: str) -> list[str]:
        block = re.search(rf'<select id="{select}".*?</select>', html, re.S)
        assert block, select
        return re.findall(r"<option[^>]*>([^<]+)</option>", block.group(0))

    assert options("activation") == list(ACTIVATIONS)
    assert options("dtype") == list(FLOAT_DTYPES)


def _default(html: str, field: str) -> str:
    match = re.search(rf"<input id=\"{field}\"[^>]* value='([^']*)'", html) or re.search(
        rf'<input id="{field}"[^>]* value="([^"]*)"', html
    )
    assert match, field
    return match.group(1)


def test_the_default_example_is_a_healthy_init_beside_the_classic_failure(client) -> None:
    """The page opens on one stack initialized two ways: the chosen scheme (orthogonal) keeps the
    signal, the compare field's N(0, 0.01^2) loses it; the browser test shows both verdicts."""
    html = (FILES / "index.html").read_text()
    script = (FILES / "app.js").read_text()
    assert 'select.value = state.schemes.has("orthogonal") ? "orthogonal"' in script
    activation = re.search(r'<select id="activation".*?<option selected>([^<]+)</option>', html, re.S)
    assert activation and activation.group(1) == "linear"
    depth, width = int(_default(html, "depth")), int(_default(html, "width"))
    compare = json.loads(_default(html, "compare"))
    assert compare == {"name": "normal", "std": 0.01}

    def bands(scheme: object) -> dict[str, str]:
        layers = [{"width": width, "activation": "linear", "scheme": scheme, "repeat": depth}]
        answer = client.post("/diagnostics/network", json={"seed": 0, "input_width": width, "layers": layers})
        assert answer.status_code == 200, answer.text
        return {v["check"]: v["band"] for v in answer.json()["verdicts"]}

    assert set(bands("orthogonal").values()) == {"healthy"}
    failing = bands(compare)
    assert failing["forward_variance"] == failing["gradient"] == "fail"


def test_the_commands_send_the_stack_as_layers() -> None:
    script = (FILES / "app.js").read_text()
    assert "artifact: { ...head, layers: Array.from(" in script
    assert '"tensors": [' not in script  # the commands' stack is `layers`, not one tensor per layer


@pytest.mark.slow
def test_the_wheel_ships_the_page(tmp_path: Path) -> None:
    """`pip install .` (the Dockerfile's install) must bring the page: a wheel of a copy of the project."""
    source = tmp_path / "src"
    shutil.copytree(ROOT / "service", source / "service", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", source)
    # Without build isolation: the build backend is the one the test extra installed (pyproject.toml
    # lists setuptools there), so the test downloads and installs nothing.
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],  # fmt: skip
        capture_output=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr.decode(errors="replace")
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in FILES.iterdir():
        assert f"service/playground/{path.name}" in names, path.name
