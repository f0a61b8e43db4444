"""Tests mirror modules: service/X.py is tested in tests/test_X.py, service/pkg/X.py in
tests/pkg/test_X.py (service/__main__.py in tests/test_main.py)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICE, TESTS = ROOT / "service", ROOT / "tests"


def modules() -> list[Path]:
    """Every module under service/ that needs a mirror (packages' __init__ files excepted)."""
    return [path for path in sorted(SERVICE.rglob("*.py")) if path.name != "__init__.py"]


def mirror(module: Path) -> Path:
    """The test module of ``module`` (a path under service/)."""
    relative = module.relative_to(SERVICE)
    name = "main" if relative.stem == "__main__" else relative.stem
    return TESTS / relative.parent / f"test_{name}.py"
