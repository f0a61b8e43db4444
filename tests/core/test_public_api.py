"""The public surface of service/core: every module declares ``__all__``, and no code reaches past it.

``__all__`` is the module's public names exactly (as httpx checks its own): a leading underscore
means private, anything else is listed. Every ``from service.core... import name`` in the service,
the tests and the benchmarks must name a listed name, so a private helper can change freely.
"""

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "service" / "core"
SCANNED = ("service", "tests", "bench")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


CORE_MODULES = {module_name(path): path for path in sorted(CORE.rglob("*.py"))}


def top_level_names(tree: ast.Module) -> set[str]:
    """Names a module binds itself (functions, classes, assignments), not the ones it imports."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names - {"__all__"}


def submodules(name: str) -> set[str]:
    """The modules and packages directly inside package ``name`` (empty for a plain module)."""
    path = CORE_MODULES[name]
    if path.name != "__init__.py":
        return set()
    return {module_name(child).rsplit(".", 1)[1] for child in path.parent.glob("*.py") if child != path} | {
        child.name for child in path.parent.iterdir() if (child / "__init__.py").exists()
    }


def imports_from_core(path: Path) -> list[tuple[int, str, str]]:
    """(line, core module, name) for every ``from <core module> import name`` in a file."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        if source in CORE_MODULES:
            found += [(node.lineno, source, alias.name) for alias in node.names]
    return found


def python_files() -> list[Path]:
    return sorted(path for folder in SCANNED for path in (REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("name", sorted(CORE_MODULES))
def test_every_core_module_lists_its_public_names_in_all(name):
    module = importlib.import_module(name)
    declared = getattr(module, "__all__", None)
    assert isinstance(declared, list) and all(isinstance(entry, str) for entry in declared), f"{name}.__all__"
    assert len(set(declared)) == len(declared), f"{name}.__all__ repeats a name"
    defined = top_level_names(ast.parse(CORE_MODULES[name].read_text())) | submodules(name)
    public = {entry for entry in defined if not entry.startswith("_")}
    assert not set(declared) - public, f"{name}.__all__ lists names it does not define publicly"
    assert not public - set(declared) - submodules(name), f"{name} defines public names missing from __all__"
    for entry in declared:
        if entry not in submodules(name):
            assert hasattr(module, entry), f"{name}.{entry}"


# The compiled extension is private to the module that loads it and chooses between it and numpy.
EXTENSION_LOADER = (CORE / "kernels.py", "service.core", "_kernels")


def test_no_code_imports_a_private_or_unlisted_core_name():
    private, unlisted = [], []
    for path in python_files():
        for line, source, name in imports_from_core(path):
            where = f"{path.relative_to(REPO)}:{line}: {source}.{name}"
            if (path, source, name) == EXTENSION_LOADER:
                continue
            if name.startswith("_"):
                private.append(where)
            elif name != "*" and name not in importlib.import_module(source).__all__ and name not in submodules(source):
                unlisted.append(where)
    assert not private, "private core names imported:\n" + "\n".join(private)
    assert not unlisted, "core names imported but not in their module's __all__:\n" + "\n".join(unlisted)


def test_the_scan_sees_relative_and_absolute_imports():
    relative = {(source, name) for _, source, name in imports_from_core(CORE / "generate.py")}
    absolute = {(source, name) for _, source, name in imports_from_core(REPO / "tests" / "core" / "test_read.py")}
    assert {("service.core", "schemes"), ("service.core.registry", "get_scheme")} <= relative
    assert ("service.core.read", "read") in absolute
