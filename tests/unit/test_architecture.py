"""Dependencies point one way: webui → engine → handlers; only engine/ imports SpiffWorkflow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def imports_of(package: str) -> dict[str, set[str]]:
    """Top-level modules imported by each file of a package."""
    out: dict[str, set[str]] = {}
    for path in (REPO / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        out[str(path.relative_to(REPO))] = names
    return out


@pytest.mark.parametrize("package,forbidden", [
    ("handlers", {"SpiffWorkflow", "flask", "engine", "webui", "sqlalchemy"}),
    ("engine", {"flask", "webui"}),
    ("webui", {"SpiffWorkflow"}),
])
def test_imports_point_one_way(package: str, forbidden: set[str]) -> None:
    found = {f: sorted(names & forbidden) for f, names in imports_of(package).items() if names & forbidden}
    assert found == {}


def test_the_walker_sees_real_imports() -> None:
    assert "SpiffWorkflow" in imports_of("engine")["engine/kernel/runtime.py"]
    assert "engine" in imports_of("cli")["cli/main.py"]


def test_no_eval_or_exec_in_our_code() -> None:
    for package in ("engine", "handlers", "webui"):
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    assert node.func.id not in {"eval", "exec", "compile"}, f"{path}:{node.lineno}"
