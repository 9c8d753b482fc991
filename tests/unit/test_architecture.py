"""The shape of the house, enforced: which room may import which, from the real imports of every file.

Every ``import`` and ``from … import`` is read — at the top of a module, inside functions, under
``if TYPE_CHECKING`` — and resolved to the room it lands in. A room is a top-level package (``webui``,
``cli``, ``handlers``, ``bench``) or one of the engine's folders (``engine.kernel`` …); the table below is
the whole rule. Dependencies point one way: webui/cli/bench → the ``engine`` facade → engine rooms →
handlers; only the kernel touches SpiffWorkflow; a feature plugs into the kernel and casework, never the
other way round.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("engine", "handlers", "webui", "cli", "bench", "processes")

ENGINE_BASE = {"engine.errors", "engine.vocabulary", "engine.results", "engine.config"}
ALLOWED: dict[str, set[str]] = {
    # the facade and the top-level words everyone speaks
    "engine": {"engine.*", "handlers", "processes"},
    "engine.errors": set(),
    "engine.vocabulary": set(),
    "engine.results": {"engine.errors", "engine.kernel"},  # type names only (TYPE_CHECKING)
    "engine.config": {"engine.errors", "engine.vocabulary", "handlers", "processes"},
    # the rooms, bottom up
    "engine.kernel": {"engine.errors", "engine.vocabulary", "handlers"},
    "engine.store": {"engine.errors", "engine.vocabulary"},
    "engine.definitions": {*ENGINE_BASE, "engine.kernel", "engine.store"},
    "engine.casework": {*ENGINE_BASE, "engine.kernel", "engine.store", "engine.definitions", "handlers"},
    "engine.timelimits": {*ENGINE_BASE, "engine.kernel", "engine.store", "engine.casework", "handlers"},
    "engine.fieldwork": {*ENGINE_BASE, "engine.kernel", "engine.store", "engine.casework", "engine.timelimits"},
    "engine.customers": {*ENGINE_BASE, "engine.kernel", "engine.store", "engine.casework", "engine.timelimits",
                         "handlers"},
    "engine.oversight": {*ENGINE_BASE, "engine.kernel", "engine.store", "engine.definitions", "engine.casework",
                         "engine.timelimits", "handlers"},
    "engine.analysis": {*ENGINE_BASE, "engine.kernel", "engine.store", "engine.definitions", "engine.casework",
                        "handlers"},
    # outside the engine: the facade only
    "handlers": {"handlers"},
    "webui": {"engine", "webui", "handlers"},
    "cli": {"engine", "webui", "cli"},
    "bench": {"engine", "cli", "bench", "handlers"},
    "processes": set(),
}
THIRD_PARTY_ONLY_IN = {
    "SpiffWorkflow": {"engine.kernel"},
    "flask": {"webui"},
    "flask_wtf": {"webui"},
    "sqlalchemy": {"engine", "engine.store", "engine.definitions", "engine.casework", "engine.timelimits",
                   "engine.fieldwork", "engine.customers", "engine.oversight", "engine.analysis", "bench"},
    "alembic": {"engine.store"},
}


def room_of(module: str) -> str | None:
    """The room a first-party module belongs to (None for third-party modules)."""
    parts = module.split(".")
    if parts[0] not in FIRST_PARTY:
        return None
    if parts[0] == "engine" and len(parts) > 1:
        candidate = ".".join(parts[:2])
        return candidate if candidate in ALLOWED else "engine" if parts[1] == "facade" else candidate
    return parts[0]


def module_of(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_in(path: Path) -> Iterator[tuple[int, str]]:
    """Every module a file imports (line, absolute name), wherever the import statement stands."""
    module = module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if node.module is None or node.level and target.count(".") < 2 and target.startswith("engine"):
                # "from . import x" / "from .. import x": the names may be modules themselves
                for alias in node.names:
                    yield node.lineno, f"{target}.{alias.name}"
            yield node.lineno, target


def first_party_files() -> Iterator[Path]:
    for package in FIRST_PARTY:
        yield from sorted((REPO / package).rglob("*.py"))


def violations() -> list[str]:
    found = []
    for path in first_party_files():
        here = room_of(module_of(path))
        assert here is not None
        for line, target in imports_in(path):
            top = target.split(".")[0]
            there = room_of(target)
            where = f"{path.relative_to(REPO)}:{line} imports {target}"
            if there is None:
                rooms = THIRD_PARTY_ONLY_IN.get(top)
                if rooms is not None and here not in rooms:
                    found.append(f"{where}: {top} belongs only in {sorted(rooms)}")
                continue
            if there == here:
                continue
            allowed = ALLOWED[here]
            if there in allowed or ("engine.*" in allowed and there.startswith("engine")):
                continue
            found.append(f"{where}: {here} may not import {there}")
    return found


def test_every_import_follows_the_table() -> None:
    assert violations() == []


def test_outside_the_engine_only_the_facade_is_imported() -> None:
    deep = [f"{p.relative_to(REPO)}:{line} {target}" for p in first_party_files()
            if room_of(module_of(p)) in ("webui", "cli", "bench") for line, target in imports_in(p)
            if target.startswith("engine.")]
    assert deep == []


def test_the_walker_sees_real_imports_including_deferred_ones(tmp_path: Path) -> None:
    assert any(t.startswith("SpiffWorkflow") for _, t in imports_in(REPO / "engine/kernel/runtime.py"))
    assert any(t == "engine" for _, t in imports_in(REPO / "cli/main.py"))
    # a deferred import (inside a function) of a feature from the kernel would be caught
    planted = REPO / "engine" / "kernel" / "_planted_for_test.py"
    planted.write_text("def f():\n    from ..fieldwork import jobs\n    return jobs\n", encoding="utf-8")
    try:
        assert any("engine.kernel may not import engine.fieldwork" in v for v in violations())
    finally:
        planted.unlink()


@pytest.mark.parametrize("room", sorted(r for r in ALLOWED if r.startswith("engine.")))
def test_each_engine_room_exists(room: str) -> None:
    path = REPO / room.replace(".", "/")
    assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_the_rooms_form_no_cycle() -> None:
    edges: dict[str, set[str]] = {}
    for path in first_party_files():
        here = room_of(module_of(path))
        for _, target in imports_in(path):
            there = room_of(target)
            if here and there and there != here and here.startswith("engine.") and there.startswith("engine."):
                edges.setdefault(here, set()).add(there)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in edges.get(start, ()))

    assert [room for room in edges if reaches(room, room, {room})] == []


def test_no_eval_or_exec_in_our_code() -> None:
    for path in first_party_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in {"eval", "exec", "compile"}, f"{path}:{node.lineno}"
