"""Shared fixtures: an in-process client of the app (Starlette's TestClient runs the lifespan); and
what the quick lane leaves out before it costs anything."""

from pathlib import Path

import hypothesis
import pytest
from starlette.testclient import TestClient

from service.app import create_app
from service.settings import Settings

from .mirrors import ROOT, TESTS, mirror, modules

# Property tests draw the same examples on every run and machine (derandomize), replay nothing from
# earlier runs (no database) and have no per-example deadline (a loaded machine is not a failure):
# the same verdict every time. Exploring new examples is a choice made on purpose, with
# --hypothesis-seed, not an accident of the run.
hypothesis.settings.register_profile("initw", derandomize=True, database=None, deadline=None)
hypothesis.settings.load_profile("initw")


@pytest.fixture(scope="session")
def client():
    settings = Settings(max_elements=1 << 22, json_max_bytes=1 << 20, max_body_bytes=64 << 10)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def streaming_client():
    """Every file streamed in bounded memory (nothing is 'small enough' to hold)."""
    settings = Settings(max_elements=1 << 24, memory_bytes=0, json_max_bytes=1 << 20)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


# ----------------------------------------------------------------------------- the quick lane

WHOLLY_SLOW = "pytestmark = pytest.mark.slow"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """In the quick lane (``-m "not slow"``), a module that marks itself slow as a whole is not even
    imported: some build their cases while collecting (schemathesis's coverage phase takes ~15 s of
    CPU per process), and every test in them would be deselected anyway."""
    if not _quick_lane(config) or collection_path.suffix != ".py":
        return None
    if not collection_path.name.startswith("test_"):
        return None
    return any(line.split("#")[0].strip() == WHOLLY_SLOW for line in collection_path.read_text().splitlines()) or None


def _quick_lane(config: pytest.Config) -> bool:
    return config.getoption("markexpr", "").replace(" ", "") == "notslow"


def pytest_collection_finish(session: pytest.Session) -> None:
    """The quick lane covers every module: when it runs the whole suite, each module's mirror test
    module must keep at least one test that is not slow (else the lane fails, naming them)."""
    if not _quick_lane(session.config) or [Path(arg).resolve() for arg in session.config.args] not in ([ROOT], [TESTS]):
        return
    kept = {Path(str(item.path)).resolve() for item in session.items}
    uncovered = [str(mirror(path).relative_to(ROOT)) for path in modules() if mirror(path).resolve() not in kept]
    if uncovered:
        raise pytest.UsageError(f"the quick lane has no test of these modules' mirrors: {uncovered}")
