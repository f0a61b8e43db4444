"""Tests mirror modules: service/X.py is tested in tests/test_X.py, service/pkg/X.py in
tests/pkg/test_X.py (service/__main__.py in tests/test_main.py)."""

from .mirrors import ROOT, SERVICE, TESTS, mirror, modules


def test_the_mirror_of_a_module_is_test_and_its_name_in_the_same_package():
    assert mirror(SERVICE / "jobs.py") == TESTS / "test_jobs.py"
    assert mirror(SERVICE / "core" / "schemes" / "basic.py") == TESTS / "core" / "schemes" / "test_basic.py"
    assert mirror(SERVICE / "__main__.py") == TESTS / "test_main.py"


def test_every_module_under_service_has_its_mirror_test_module():
    found = modules()
    assert len(found) > 40  # the walk found the package
    missing = [str(mirror(path).relative_to(ROOT)) for path in found if not mirror(path).is_file()]
    assert missing == [], f"modules without a mirror test module: {missing}"
