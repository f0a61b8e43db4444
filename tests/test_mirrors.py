"""Tests mirror modules: service/X.py is tested in tests/test_X.py, service/pkg/X.py in
tests/pkg/test_X.py (service/__main__.py in tests/test_main.py)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICE, TESTS = ROOT / "service", ROOT / "tests"


def mirror(module: Path) -> Path:
    """The test module of ``module`` (a path under service/)."""
    relative = module.relative_to(SERVICE)
    name = "main" if relative.stem == "__main__" else relative.stem
    return TESTS / relative.parent / f"test_{name}.py"


def test_the_mirror_of_a_module_is_test_and_its_name_in_the_same_package():
    assert mirror(SERVICE / "jobs.py") == TESTS / "test_jobs.py"
    assert mirror(SERVICE / "core" / "schemes" / "basic.py") == TESTS / "core" / "schemes" / "test_basic.py"
    assert mirror(SERVICE / "__main__.py") == TESTS / "test_main.py"


def test_every_module_under_service_has_its_mirror_test_module():
    modules = [path for path in sorted(SERVICE.rglob("*.py")) if path.name != "__init__.py"]
    assert len(modules) > 40  # the walk found the package
    missing = [str(mirror(path).relative_to(ROOT)) for path in modules if not mirror(path).is_file()]
    assert missing == [], f"modules without a mirror test module: {missing}"
