"""Dependencies point one way: no import circles, and the run record below the leaderboard.
Read from the source (every ``import`` statement, at the top of a module or inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "gauntlet"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str, top_level_only: bool) -> set[str]:
    """The gauntlet modules ``name`` imports (a package's ``__init__`` for ``from pkg import x``
    where x is no module)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    targets = set()
    for target in found:
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        if target and target != name:
            targets.add(target)
    return targets


def cycles(top_level_only: bool) -> list[list[str]]:
    """Every group of modules that import each other, directly or round a loop (Tarjan)."""
    graph = {name: imports(name, top_level_only) for name in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for name in graph:
        if name not in index:
            visit(name)
    return groups


def test_no_module_imports_itself_round_a_loop_at_import_time():
    assert cycles(top_level_only=True) == []


def test_the_run_record_configs_and_reports_import_no_circle_even_inside_functions():
    touched = ("gauntlet.run.", "gauntlet.repro.", "gauntlet.leaderboard.", "gauntlet.config")
    found = [g for g in cycles(top_level_only=False) if any(m.startswith(touched) for m in g)]
    assert found == []


def test_the_run_package_never_imports_the_leaderboard():
    found = {
        name: sorted(t for t in imports(name, top_level_only=False) if ".leaderboard" in t)
        for name in MODULES
        if name.startswith("gauntlet.run.")
    }
    assert {name: ts for name, ts in found.items() if ts} == {}


def test_the_check_sees_a_circle_where_there_is_one(tmp_path, monkeypatch):
    # two modules that import each other inside functions: the lazy check must find them
    for name, other in (("a", "b"), ("b", "a")):
        (tmp_path / f"{name}.py").write_text(f"def f():\n    import gauntlet.run.{other}\n")
    monkeypatch.setitem(MODULES, "gauntlet.run.a", tmp_path / "a.py")
    monkeypatch.setitem(MODULES, "gauntlet.run.b", tmp_path / "b.py")
    assert ["gauntlet.run.a", "gauntlet.run.b"] in cycles(top_level_only=False)
    assert cycles(top_level_only=True) == []
