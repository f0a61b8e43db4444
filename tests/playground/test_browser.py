"""The playground (GET /) in a real browser: Debian's headless Chromium, driven by selenium through
Debian's chromedriver, against a real server (``python -m service serve``, tests/e2e/servers.py).

The page loads the schemes, shows the histogram, the signal-propagation plot and the numbers from
the server; a change of scheme updates them; the commands it shows reproduce the file (they are run
here); the download button saves the same bytes POST /init gives; a refused input shows the
problem+json detail next to the field. A screenshot is saved to tests/playground/artifacts/
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


def stack_body(scheme: str, depth: int = 10, width: int = 256) -> dict[str, Any]:
    """The file the page's default stack stands for: ``layers.{i}.weight`` [width, width]."""
    return {
        "seed": 0,
        "tensors": [{"name": f"layers.{i}.weight", "shape": [width, width], "scheme": scheme} for i in range(depth)],
    }


def theory_std(server: Server, scheme: str) -> float:
    body = {"seed": 0, "tensors": [{"name": "layers.0.weight", "shape": [256, 256], "scheme": scheme}]}
    answer = server.client.post("/diagnostics", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["diagnostics"]["layers.0.weight"]["expected"]["std"]


def downloaded(page: Page) -> Path:
    def done() -> Path | None:
        files = [p for p in page.downloads.iterdir() if not p.name.endswith((".crdownload", ".tmp"))]
        partial = [p for p in page.downloads.iterdir() if p.name.endswith(".crdownload")]
        return files[0] if len(files) == 1 and not partial else None

    return page.until("a finished download", done)


def test_scheme_change_updates_the_plots_numbers_commands_and_download(page: Page, server: Server) -> None:
    from selenium.webdriver.support.select import Select

    # The first answer: xavier_uniform on a 10-layer tanh stack of width 256.
    assert page.element("#scheme").get_attribute("value") == "xavier_uniform"
    histogram = page.svg_title("histogram")
    assert histogram.startswith("layers.0.weight: U("), histogram
    propagation = page.svg_title("propagation")
    assert propagation.startswith("10 layers, widest 256"), propagation
    assert float(page.text("num-std-expected")) == pytest.approx(theory_std(server, "xavier_uniform"), rel=1e-5)
    assert float(page.text("num-std")) == pytest.approx(float(page.text("num-std-expected")), rel=0.02)
    assert page.text("tensor-verdict") == "healthy"
    assert page.text("stack-verdict") in ("healthy", "warn", "fail")
    assert "forward variance:" in page.text("stack-verdicts")
    assert page.text("status") == "Up to date."
    assert '"scheme": "xavier_uniform"' in page.text("curl")
    propagation_svg = page.js("return document.querySelector('#propagation svg').outerHTML")

    # Another scheme: its parameters appear with their defaults, and everything follows.
    generation = page.generation()
    Select(page.element("#scheme")).select_by_value("kaiming_normal")
    page.settled_after(generation)
    assert page.element("#param-mode").get_attribute("value") == "fan_in"
    assert page.element("#param-nonlinearity").get_attribute("value") == "leaky_relu"
    assert page.element("#param-a").get_attribute("value") == "0"
    new_histogram = page.svg_title("histogram")
    assert new_histogram != histogram and new_histogram.startswith("layers.0.weight: N(0, "), new_histogram
    assert page.js("return document.querySelector('#propagation svg').outerHTML") != propagation_svg
    kaiming = theory_std(server, "kaiming_normal")
    assert kaiming == pytest.approx(2**0.5 / 16)  # gain sqrt(2) (leaky_relu, a = 0) / sqrt(fan_in 256)
    assert float(page.text("num-std-expected")) == pytest.approx(kaiming, rel=1e-5)
    assert float(page.text("num-std")) == pytest.approx(kaiming, rel=0.02)
    curl, python = page.text("curl"), page.text("python")
    assert '"scheme": "kaiming_normal"' in curl and "xavier" not in curl
    assert '"scheme": "kaiming_normal"' in python

    # The download: the bytes POST /init gives for the same body.
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

    page.screenshot(ARTIFACTS / "playground.png")
    if not DOCS_SCREENSHOT.exists() or os.environ.get("INITW_PLAYGROUND_SCREENSHOT") == "1":
        shutil.copyfile(ARTIFACTS / "playground.png", DOCS_SCREENSHOT)


def test_refused_inputs_show_the_problem_next_to_the_field(page: Page) -> None:
    # A parameter out of range: the server's problem+json detail, in the cards and under the field.
    generation = page.generation()
    page.type_into("param-gain", "-1")
    page.settled_after(generation)
    assert page.element("#param-gain").get_attribute("aria-invalid") == "true"
    note = page.text("histogram-problem")
    assert note.startswith("422: ") and "scheme.gain" in note and "greater than 0" in note, note
    assert "greater than 0" in page.element("#param-gain + .field-problem").text
    assert page.element("#download").get_attribute("disabled") is not None
    assert page.element("#histogram-card").get_attribute("data-state") == "error"

    # Fixed: the notes go, the plots come back.
    generation = page.generation()
    page.type_into("param-gain", "2")
    page.settled_after(generation)
    assert not page.js("return document.querySelectorAll('.field-problem, [aria-invalid]').length")
    assert page.element("#histogram-card").get_attribute("data-state") == "ready"
    assert page.element("#download").get_attribute("disabled") is None
    assert '"scheme": {"name": "xavier_uniform", "gain": 2}' in page.text("curl")

    # A stack over the diagnostics budget: its 413 in the stack's cards; the file itself is still fine.
    generation = page.generation()
    page.type_into("depth", "200")
    page.type_into("width", "1024")
    page.settled_after(generation)
    note = page.text("propagation-problem")
    assert note.startswith("413: ") and "INITW_NETWORK_BUDGET" in note, note
    assert page.element("#stack-card").get_attribute("data-state") == "error"
    assert page.element("#histogram-card").get_attribute("data-state") == "ready"
    assert page.element("#download").get_attribute("disabled") is None
    assert page.element("#download").text == "Download .safetensors (839 MB)"  # 200 x 1024 x 1024 float32

    # One tensor: a bad shape is shown at the shape field; the signal-propagation card says why it is empty.
    generation = page.generation()
    page.element("#target-layer").find_element("xpath", "..").click()
    page.settled_after(generation)
    assert page.svg_title("histogram").startswith("weight: U(")
    assert page.element("#propagation-note").is_displayed()
    generation = page.generation()
    page.type_into("shape", "256, 0")
    page.settled_after(generation)
    assert page.element("#shape").get_attribute("aria-invalid") == "true"
    assert "shape.1" in page.text("numbers-problem")
