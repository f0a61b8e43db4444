"""Every module of service/ declares its public surface: ``__all__`` exists and lists only names
the module defines (or, for a package, its submodules). service/core holds itself to more: its
``__all__`` is exactly its public names, and nothing imports past it (tests/core/test_public_api.py)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from .mirrors import ROOT, SERVICE


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _defined(path: Path) -> set[str]:
    """Names the module binds at its top level (imports included: a facade re-exports)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    if path.name == "__init__.py":
        names |= {child.stem for child in path.parent.glob("*.py")} | {
            child.name for child in path.parent.iterdir() if (child / "__init__.py").is_file()
        }
    return names


MODULES = sorted(SERVICE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_module_declares_all_and_it_names_only_what_the_module_defines(path: Path) -> None:
    declared = getattr(importlib.import_module(_module_name(path)), "__all__", None)
    assert isinstance(declared, list) and all(isinstance(name, str) for name in declared), "no __all__"
    assert len(set(declared)) == len(declared), "__all__ repeats a name"
    assert not set(declared) - _defined(path), f"__all__ lists names the module does not define: {declared}"
