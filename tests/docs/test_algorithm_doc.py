"""docs/ALGORITHM.md states the constants the code uses: a port built from the doc matches."""

import re
from pathlib import Path

import pytest

from service.core import normal, pinned

DOC = (Path(__file__).parents[2] / "docs" / "ALGORITHM.md").read_text()
HEX = re.compile(r"`(-?0x[0-9a-f.]+p[+-]\d+)`")


def table_row(label: str) -> list[float]:
    line = next(line for line in DOC.splitlines() if line.startswith(f"| {label} |"))
    return [float.fromhex(h) for h in HEX.findall(line)]


@pytest.mark.parametrize("label", list("ABCDEF"))
def test_as241_coefficients_in_the_doc_equal_the_code(label):
    coefficients = getattr(normal, f"_{label}")
    listed = table_row(label)
    expected = list(coefficients) if label in "ACE" else list(coefficients[:-1])  # B, D, F end with a literal 1
    assert listed == expected


def test_log_constants_in_the_doc_equal_the_code():
    assert table_row("ln2_hi") == [pinned.LN2_HI]
    assert table_row("ln2_lo") == [pinned.LN2_LO]
    assert [table_row(f"Lg{i}")[0] for i in range(1, 8)] == list(pinned._LG)


def test_the_doc_names_the_version_the_code_writes():
    from service.core.generate import algorithm

    assert f"named `{algorithm()}`" in DOC


def test_section_11_specifies_every_registered_scheme_and_alias():
    """A port is written from the doc alone: a scheme the registry serves must be specified there."""
    from service.core import schemes  # noqa: F401  (importing them registers every scheme)
    from service.core.registry import REGISTRY

    assert len(REGISTRY) >= 20  # the catalogue is there to check
    section = DOC.split("## 11. The schemes", 1)[1].split("\n## 12.", 1)[0]
    named = set(re.findall(r"`([a-z_]+)", section))
    missing = sorted({name for scheme in REGISTRY.values() for name in (scheme.name, *scheme.aliases)} - named)
    assert missing == [], f"schemes or aliases not in docs/ALGORITHM.md section 11: {missing}"


def implementation_rows() -> list[tuple[str, str, list[str]]]:
    section = DOC.split("## 17. Where each section is implemented", 1)[1]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].startswith("`"):
            rows.append((cells[0], cells[1].strip("`"), re.findall(r"`([^`]+)`", cells[2])))
    return rows


def test_section_17_names_modules_and_functions_that_exist():
    """The map from the spec's sections to the code cannot rot: every module is a file, every name
    resolves in it (a dotted name attribute by attribute)."""
    import importlib

    root = Path(__file__).parents[2]
    rows = implementation_rows()
    assert len(rows) >= 25
    covered = {int(m) for label, _, _ in rows for m in re.findall(r"\b(\d+)(?:\.\d+)?", label.split(" ", 1)[0])}
    assert set(range(1, 17)) <= covered, sorted(set(range(1, 17)) - covered)
    for label, path, names in rows:
        assert (root / path).is_file(), (label, path)
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert names, label
        for name in names:
            target = module
            for part in name.split("."):
                assert hasattr(target, part), f"{label}: {path} has no {name}"
                target = getattr(target, part)
