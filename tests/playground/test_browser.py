"""The playground (GET /) in a real browser: Debian's headless Chromium, driven by selenium through
Debian's chromedriver, against a real server (``python -m service serve``, tests/e2e/servers.py).

The page opens on its default example (one stack, two inits: orthogonal healthy beside N(0, 0.01^2)
failing, each with its line on why) and shows the histogram, the signal-propagation plots and the
numbers from the server, in cards their content fills; a change of scheme updates them; the
commands it shows send the stack as `layers` and reproduce the file (they are run here); the
download button saves the same bytes POST /init gives; a refused input shows its error once, next
to the field (a request-level problem once, under the status line). A screenshot is saved to tests/playground/artifacts/
(gitignored); docs/playground.png, the README's copy, is written only when it is missing or
INITW_PLAYGROUND_SCREENSHOT=1 (regenerate it when the page changes materially).

Chromium, chromedriver and curl are not Python packages: scripts/system-deps installs them (Debian's
``chromium``, ``chromium-driver``, ``curl``). Missing, these tests fail and say so; nothing here
installs anything. INITW_TEST_CHROMIUM and INITW_TEST_CHROMEDRIVER, set, name other executables.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.servers import Server, serving

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = HERE / "artifacts"
DOCS_SCREENSHOT = ROOT / "docs" / "playground.png"
CHROMIUM = Path(os.environ.get("INITW_TEST_CHROMIUM") or "/usr/bin/chromium")
CHROMEDRIVER = Path(os.environ.get("INITW_TEST_CHROMEDRIVER") or "/usr/bin/chromedriver")
WIDTH = 1440  # the screenshot's width, in CSS pixels
WAIT = 30.0  # seconds for the page to settle after a change (it takes well under one)
# A closed network: no first-run tasks, component updates, sync, QUIC or background requests.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    f"--window-size={WIDTH},1000",
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def chromium() -> None:
    """Debian's chromium and chromedriver, where the driver and the options below name them."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(f"chromium or chromedriver is not installed ({', '.join(missing)}): run scripts/system-deps")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving("playground", tmp_path_factory.mktemp("playground-server")) as running:
        yield running


class Page:
    """The browser on the playground, with the waits the page's data attributes allow."""

    def __init__(self, driver: Any, url: str, downloads: Path):
        self.driver, self.url, self.downloads = driver, url, downloads

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def element(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def text(self, element_id: str) -> str:
        return self.js("return document.getElementById(arguments[0]).textContent", element_id)

    def generation(self) -> int:
        return int(self.js("return document.getElementById('results').dataset.generation"))

    def until(self, what: str, condition: Callable[[], Any], timeout: float = WAIT) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                logs = self.driver.get_log("browser")
                pytest.fail(f"the page did not show {what} within {timeout:.0f} s; browser console: {logs}")
            time.sleep(0.05)  # the polling interval

    def settled_after(self, generation: int) -> None:
        """Wait until an update newer than ``generation`` is on the page and none is due (the inputs
        the page shows are the form's)."""
        script = "const d = document.getElementById('results').dataset; return [+d.generation, d.busy, d.pending]"

        def settled() -> bool:
            shown, busy, pending = self.js(script)
            return shown > generation and busy == "false" and pending == "false"

        self.until(f"an update after #{generation}", settled)

    def svg_title(self, plot: str) -> str:
        return self.js(
            "const t = document.querySelector(`#${arguments[0]} svg > text`); return t && t.textContent", plot
        )

    def type_into(self, element_id: str, text: str) -> None:
        from selenium.webdriver.common.keys import Keys

        field = self.element(f"#{element_id}")
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(Keys.DELETE)
        field.send_keys(text)

    def screenshot(self, path: Path) -> None:
        """The whole page, not only the window (Chrome DevTools Protocol: beyond the viewport)."""
        self.js("window.scrollTo(0, 0)")  # the form is sticky: it is drawn where the window is scrolled to
        width, height = self.js("const e = document.documentElement; return [e.scrollWidth, e.scrollHeight]")
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                                      "clip": clip})  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture
def page(chromium: None, server: Server, tmp_path: Path) -> Iterator[Page]:
    from selenium import webdriver  # the test extra's (imported here: collecting the suite needs no browser)
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.get(server.url + "/")
        page = Page(driver, server.url, downloads)
        page.settled_after(0)
        yield page
        # The server's 422s are logged too ("network"): the page shows those; a script error it must not have.
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and e.get("source") != "network"]
        assert not errors, f"the browser console has errors: {errors}"
    finally:
        driver.quit()


def stack_body(scheme: str, depth: int = 10, width: int = 128) -> dict[str, Any]:
    """The file the page's default stack stands for, as tensors: ``layers.{i}.weight`` [width, width]
    (the page sends it as the same file's ``layers``)."""
    return {
        "seed": 0,
        "tensors": [{"name": f"layers.{i}.weight", "shape": [width, width], "scheme": scheme} for i in range(depth)],
    }


def theory_std(server: Server, scheme: str, width: int = 128) -> float:
    body = {"seed": 0, "tensors": [{"name": "layers.0.weight", "shape": [width, width], "scheme": scheme}]}
    answer = server.client.post("/diagnostics", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["diagnostics"]["layers.0.weight"]["expected"]["std"]


def downloaded(page: Page) -> Path:
    def done() -> Path | None:
        files = [p for p in page.downloads.iterdir() if not p.name.endswith((".crdownload", ".tmp"))]
        partial = [p for p in page.downloads.iterdir() if p.name.endswith(".crdownload")]
        return files[0] if len(files) == 1 and not partial else None

    return page.until("a finished download", done)


# How much of each shown card its content fills: a plot counts as its drawing (the SVG), not the box
# that stretches around it.
FILL = """
return [...document.querySelectorAll('#results > .card')].filter((c) => c.offsetParent !== null).map((card) => {
  const style = getComputedStyle(card);
  const inner = card.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
  let used = 0;
  for (const child of card.children) {
    if (child.hidden) continue;
    const svg = child.classList.contains('plot') ? child.querySelector('svg') : null;
    used += (svg || child).getBoundingClientRect().height + parseFloat(getComputedStyle(child).marginTop);
  }
  return [card.id, used / inner];
});
"""


NOTES = "return [...document.querySelectorAll('.field-problem')].map((n) => n.dataset.for + ': ' + n.textContent)"


def occurrences(page: Page, text: str) -> int:
    return page.js("return document.body.innerText.split(arguments[0]).length - 1", text)


def test_the_default_example_tells_a_story(page: Page, server: Server) -> None:
    # One 10-layer linear stack of width 128, two inits: orthogonal keeps the signal, N(0, 0.01^2) loses it.
    assert page.element("#scheme").get_attribute("value") == "orthogonal"
    assert page.element("#compare").get_attribute("value") == '{"name": "normal", "std": 0.01}'
    assert page.text("status") == "Up to date."
    assert page.svg_title("propagation").startswith("10 layers, widest 128"), page.svg_title("propagation")
    assert page.svg_title("compare-propagation").startswith("10 layers, widest 128")
    shown = ("stack-verdict", "stack-why", "compare-verdict", "compare-why", "propagation", "compare-propagation")
    for element in shown:
        assert page.element(f"#{element}").is_displayed(), element
    assert page.text("propagation-scheme") == "orthogonal"
    assert page.text("compare-scheme") == "normal (std 0.01)"
    assert page.text("stack-verdict") == "healthy"
    assert page.text("compare-verdict") == "fail"
    healthy, failing = page.text("stack-why"), page.text("compare-why")
    assert healthy.startswith("fan_in × Var(w) = 128 × 0.0884² = 1: the signal's variance stays put"), healthy
    assert failing.startswith("fan_in × Var(w) = 128 × 0.01² = 0.0128: the signal's variance shrinks ×0.0128 per layer")
    assert "vanishes" in failing, failing
    assert not page.js("return document.querySelectorAll('.field-problem, [aria-invalid]').length")
    assert page.element("#problem").get_attribute("hidden") is not None

    # The tensor and the stack's details are the chosen scheme's.
    assert page.svg_title("histogram").startswith("layers.0.weight: orthogonal (gain 1)")
    assert float(page.text("num-std-expected")) == pytest.approx(theory_std(server, "orthogonal"), rel=1e-5)
    assert page.text("tensor-verdict") == "healthy"
    assert "forward variance:" in page.text("stack-verdicts")

    # Cards fill their space: none is left even a third empty (the cards of a row are as tall as the tallest).
    for card, fill in page.js(FILL):
        assert fill > 0.7, (card, fill)

    # The commands send the stack as `layers`, one line each.
    curl = page.text("curl")
    assert '"layers": [\n  {"type": "linear", "name": "layers.0", "in_features": 128, "out_features": 128, ' \
           '"bias": false, "weight_init": "orthogonal"},' in curl, curl  # fmt: skip
    assert '"tensors"' not in curl and '"tensors"' not in page.text("python")

    page.screenshot(ARTIFACTS / "playground.png")
    if not DOCS_SCREENSHOT.exists() or os.environ.get("INITW_PLAYGROUND_SCREENSHOT") == "1":
        shutil.copyfile(ARTIFACTS / "playground.png", DOCS_SCREENSHOT)


def test_scheme_change_updates_the_plots_numbers_commands_and_download(page: Page, server: Server) -> None:
    from selenium.webdriver.support.select import Select

    histogram = page.svg_title("histogram")
    propagation_svg = page.js("return document.querySelector('#propagation svg').outerHTML")
    compare_svg = page.js("return document.querySelector('#compare-propagation svg').outerHTML")

    # Another scheme: its parameters appear with their defaults, and everything follows but the comparison.
    generation = page.generation()
    Select(page.element("#scheme")).select_by_value("kaiming_normal")
    page.settled_after(generation)
    assert page.element("#param-mode").get_attribute("value") == "fan_in"
    assert page.element("#param-nonlinearity").get_attribute("value") == "leaky_relu"
    assert page.element("#param-a").get_attribute("value") == "0"
    new_histogram = page.svg_title("histogram")
    assert new_histogram != histogram and new_histogram.startswith("layers.0.weight: N(0, "), new_histogram
    assert page.js("return document.querySelector('#propagation svg').outerHTML") != propagation_svg
    assert page.js("return document.querySelector('#compare-propagation svg').outerHTML") == compare_svg
    kaiming = theory_std(server, "kaiming_normal")
    assert kaiming == pytest.approx(2**0.5 / 128**0.5)  # gain sqrt(2) (leaky_relu, a = 0) / sqrt(fan_in 128)
    assert float(page.text("num-std-expected")) == pytest.approx(kaiming, rel=1e-5)
    assert float(page.text("num-std")) == pytest.approx(kaiming, rel=0.03)
    assert page.text("propagation-scheme") == "kaiming_normal"
    assert "grows" in page.text("stack-why")  # gain sqrt(2) on linear layers: x2 per layer
    curl, python = page.text("curl"), page.text("python")
    assert '"weight_init": "kaiming_normal"' in curl and "orthogonal" not in curl
    assert '"weight_init": "kaiming_normal"' in python

    # The download: the bytes POST /init gives for the same stack as tensors.
    page.element("#download").click()
    saved = downloaded(page)
    expected = server.client.post("/init", json=stack_body("kaiming_normal"))
    assert expected.status_code == 200
    digest = hashlib.sha256(saved.read_bytes()).hexdigest()
    assert digest == hashlib.sha256(expected.content).hexdigest()
    assert saved.name == f"initw-{expected.headers['etag'][1:13]}.safetensors"
    page.until("the download's digest", lambda: digest in page.text("download-status"))

    # The commands on the page make the same file.
    work = page.downloads.parent / "commands"
    work.mkdir()
    subprocess.run([sys.executable, "-c", python], cwd=work, check=True, timeout=60, capture_output=True)
    assert hashlib.sha256((work / "initw.safetensors").read_bytes()).hexdigest() == digest
    assert shutil.which("curl"), "curl is not installed: run scripts/system-deps"
    (work / "initw.safetensors").unlink()
    subprocess.run(["bash", "-ec", curl], cwd=work, check=True, timeout=60, capture_output=True)
    assert hashlib.sha256((work / "initw.safetensors").read_bytes()).hexdigest() == digest

    # No comparison: the stack's details take its place.
    generation = page.generation()
    page.type_into("compare", "")
    page.settled_after(generation)
    assert not page.element("#compare-card").is_displayed()
    assert page.element("#stack-card").is_displayed()
    for card, fill in page.js(FILL):
        assert fill > 0.7, (card, fill)


def test_refused_inputs_show_each_problem_once_where_it_belongs(page: Page) -> None:
    # A parameter out of range: refused by six requests, said once, under the field.
    generation = page.generation()
    page.type_into("param-gain", "-1")
    page.settled_after(generation)
    assert page.element("#param-gain").get_attribute("aria-invalid") == "true"
    notes = page.js(NOTES)
    assert notes == ["param-gain: Input should be greater than 0 (allowed: > 0.0)"], notes
    assert occurrences(page, "greater than 0") == 1
    assert page.element("#problem").get_attribute("hidden") is not None
    assert page.element("#download").get_attribute("disabled") is not None
    assert page.element("#histogram-card").get_attribute("data-state") == "error"
    assert page.element("#compare-card").get_attribute("data-state") == "ready"  # the comparison is not refused
    assert page.text("status") == "Refused: see the notes."

    # Fixed: the notes go, the plots come back.
    generation = page.generation()
    page.type_into("param-gain", "2")
    page.settled_after(generation)
    assert not page.js("return document.querySelectorAll('.field-problem, [aria-invalid]').length")
    assert page.element("#histogram-card").get_attribute("data-state") == "ready"
    assert page.element("#download").get_attribute("disabled") is None
    assert '"weight_init": {"name": "orthogonal", "gain": 2}' in page.text("curl")

    # The comparison's scheme refused: under the compare field, once; the chosen scheme's cards stay.
    generation = page.generation()
    page.type_into("compare", '{"name": "normal", "std": -1}')
    page.settled_after(generation)
    notes = page.js("return [...document.querySelectorAll('.field-problem')].map((n) => n.dataset.for)")
    assert notes == ["compare"], notes
    assert page.element("#compare-card").get_attribute("data-state") == "error"
    assert page.element("#propagation-card").get_attribute("data-state") == "ready"
    generation = page.generation()
    page.type_into("compare", "{not json")
    page.settled_after(generation)
    assert page.element("#compare + .field-problem").text.startswith("not a scheme name or a JSON object")
    generation = page.generation()
    page.type_into("compare", '{"name": "normal", "std": 0.01}')
    page.settled_after(generation)
    assert not page.js("return document.querySelectorAll('.field-problem, [aria-invalid]').length")

    # Stacks over the diagnostics budget: the 413 once, in the form's problem box; the file itself is fine.
    generation = page.generation()
    page.type_into("depth", "200")
    page.type_into("width", "1024")
    page.settled_after(generation)
    note = page.text("problem")
    assert note.startswith("413: ") and "INITW_NETWORK_BUDGET" in note, note
    assert occurrences(page, "INITW_NETWORK_BUDGET") == 1
    assert page.element("#stack-card").get_attribute("data-state") == "error"
    assert page.element("#compare-card").get_attribute("data-state") == "error"
    assert page.element("#histogram-card").get_attribute("data-state") == "ready"
    assert page.element("#download").get_attribute("disabled") is None
    assert page.element("#download").text == "Download .safetensors (839 MB)"  # 200 x 1024 x 1024 float32

    # One tensor: no stack cards; a bad shape is shown at the shape field, once.
    generation = page.generation()
    page.element("#target-layer").find_element("xpath", "..").click()
    page.settled_after(generation)
    assert page.svg_title("histogram").startswith("weight: orthogonal")
    for card in ("propagation-card", "compare-card", "stack-card"):
        assert not page.element(f"#{card}").is_displayed(), card
    assert not page.element("#compare").is_displayed()
    generation = page.generation()
    page.type_into("shape", "256, 0")
    page.settled_after(generation)
    assert page.element("#shape").get_attribute("aria-invalid") == "true"
    notes = page.js(NOTES)
    assert notes == ["shape: Input should be greater than or equal to 1 (allowed: >= 1)"], notes
    assert occurrences(page, "greater than or equal to 1") == 1
