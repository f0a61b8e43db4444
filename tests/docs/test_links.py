"""Every relative link of the README and docs/ reaches a file (and a heading, when it names one)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .examples import ROOT, documents

LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for line in page.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("page", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(target)
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: links to nothing: {broken}"


def test_the_readme_links_every_topic_page() -> None:
    readme = (ROOT / "README.md").read_text()
    topics = ("REQUESTS", "DIAGNOSTICS", "NETWORK", "CLIENTS", "OPERATING", "PERFORMANCE", "ALGORITHM", "DEVELOPING")
    for page in topics:
        assert f"](docs/{page}.md)" in readme, page


def test_the_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150
