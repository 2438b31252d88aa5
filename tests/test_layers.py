"""The packages depend one way: monitor -> notifiers -> snapshots, never back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.one_backend  # no store: the SQLite run is enough

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {"snapshots": set(), "notifiers": {"snapshots"}, "monitor": {"snapshots", "notifiers"}}


def imported_modules(tree: ast.AST) -> list[tuple[int, str, bool]]:
    """(line, module, inside a function) for every absolute import in a module."""
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((child.lineno, a.name, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.lineno, child.module, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def upward_imports(package: str) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module, _ in imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            top = module.split(".")[0]
            if top in ALLOWED and top != package and top not in ALLOWED[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


def test_no_package_imports_a_layer_above_it() -> None:
    for package in ALLOWED:
        assert upward_imports(package) == [], package


def test_no_import_of_our_own_modules_hides_in_a_function() -> None:
    """A function-level import of our own code is how a cycle gets dodged; there is none."""
    hidden = []
    for package in ALLOWED:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            hidden += [f"{path.relative_to(ROOT)}:{line} {module}"
                       for line, module, inside in imported_modules(tree)
                       if inside and module.split(".")[0] in ALLOWED]
    assert hidden == []


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    """The rule itself can fail: an upward import written into a module is found."""
    tree = ast.parse("from monitor.config import Settings\n\ndef f():\n    import notifiers\n")
    assert [(m, inside) for _, m, inside in imported_modules(tree)] == [
        ("monitor.config", False), ("notifiers", True)]
