"""The architecture rules of DESIGN.md section 1, checked on the source itself.

import-linter (run by `make test`) forbids third-party packages and adapters in the domain and
ports; these tests add what it cannot see: standard-library-only imports, no environment or
wall-clock reads, and no mutable module state (globals, singletons).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import stellars

PACKAGE = Path(stellars.__file__).parent
PURE_LAYERS = ["domain", "ports"]
ALLOWED_FIRST_PARTY = ("stellars.domain", "stellars.ports")
FORBIDDEN_CALLS = {
    ("os", "getenv"),
    ("os", "environ"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
}
MUTABLE_DISPLAYS = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)


def pure_modules() -> list[Path]:
    return sorted(p for layer in PURE_LAYERS for p in (PACKAGE / layer).rglob("*.py"))


def module_id(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


@pytest.mark.parametrize("path", pure_modules(), ids=module_id)
def test_pure_layers_import_only_the_standard_library_and_each_other(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name.startswith(ALLOWED_FIRST_PARTY), (
                f"{module_id(path)}:{node.lineno} imports {name}"
            )


@pytest.mark.parametrize("path", pure_modules(), ids=module_id)
def test_pure_layers_read_neither_the_environment_nor_the_clock(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            pair = (node.value.id, node.attr)
            assert pair not in FORBIDDEN_CALLS, f"{module_id(path)}:{node.lineno} uses {pair}"
        if isinstance(node, ast.ImportFrom) and node.module in {"os", "time"}:
            imported = {alias.name for alias in node.names}
            assert not imported & {"environ", "getenv", "time", "monotonic"}, module_id(path)


@pytest.mark.parametrize("path", pure_modules(), ids=module_id)
def test_pure_layers_hold_no_mutable_module_state(path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        targets: list[ast.expr] = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            if isinstance(node.annotation, ast.Name) and node.annotation.id == "TypeAlias":
                continue  # a type alias names a type; nothing to mutate
            targets, value = [node.target], node.value
        for target in targets:
            assert isinstance(target, ast.Name), f"{module_id(path)}:{node.lineno}"
            name = target.id
            if name == "__all__":
                continue
            assert name.lstrip("_").isupper(), (
                f"{module_id(path)}:{node.lineno} module-level {name} is not a constant"
            )
            assert not isinstance(value, MUTABLE_DISPLAYS), (
                f"{module_id(path)}:{node.lineno} constant {name} is mutable"
            )
    for node in ast.walk(tree):
        assert not isinstance(node, (ast.Global, ast.Nonlocal)), module_id(path)


def test_the_checks_see_the_whole_domain():
    names = {p.stem for p in pure_modules()}
    assert {"activity", "sessions", "volumes", "gpu", "notifications", "clock"} <= names
