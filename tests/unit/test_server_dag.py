"""No import circles inside a package of supervisor/: each package's modules form a DAG.

Every import of a `supervisor.*` module counts, wherever it sits: at the top, inside a
function, or under `if TYPE_CHECKING:` (a circle of type-level imports still means no
module of it can be read, or tested, alone).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "supervisor"

Edges = dict[str, dict[str, int]]  # module -> {imported module of the same package: line}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imported(source: str, name: str, package: str, known: set[str]) -> Iterable[tuple[str, int]]:
    """The supervisor modules `source` (module `name` of `package`) imports, with their lines."""
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _resolve([alias.name], known, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod.
            yield from _resolve([f"{base}.{alias.name}" for alias in node.names], known, node.lineno, fallback=base)


def _resolve(names: list[str], known: set[str], line: int, fallback: str = "") -> Iterable[tuple[str, int]]:
    for name in names:
        target = name if name in known else fallback
        while target and target not in known:  # `import supervisor.a.b` when only a module of it is known
            target = target.rpartition(".")[0]
        if target.startswith("supervisor"):
            yield target, line


def package_edges(root: Path = PACKAGE) -> tuple[Edges, dict[str, str]]:
    """Edges between modules of the same package, and each module's package."""
    paths = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    known = set(paths)
    packages = {name: package_of(name, path) for name, path in paths.items()}
    edges: Edges = {name: {} for name in paths}
    for name, path in paths.items():
        for target, line in imported(path.read_text(), name, packages[name], known):
            if target != name and packages[target] == packages[name]:
                edges[name].setdefault(target, line)
    return edges, packages


def circles(edges: Edges) -> list[tuple[list[str], list[str]]]:
    """Each group of modules that import each other (Tarjan), with one closed path through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[list[str], list[str]]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append((sorted(group), _closed_path(sorted(group), edges)))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _closed_path(group: list[str], edges: Edges) -> list[str]:
    """A shortest walk from the group's first module back to itself, inside the group."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(edges[node]):
                if target == start:
                    return [*paths[node], start]
                if target in members and target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"not a circle: {group}")


def describe(path: list[str], edges: Edges) -> str:
    steps = [f"{a} (line {edges[a][b]}) -> {b}" for a, b in itertools.pairwise(path)]
    return "; ".join(steps)


def test_no_package_of_supervisor_has_an_import_circle() -> None:
    edges, _ = package_edges()
    found = [f"{', '.join(group)}: {describe(path, edges)}" for group, path in circles(edges)]
    assert not found, "import circles:\n" + "\n".join(found)


def test_every_kind_of_import_is_an_edge() -> None:
    known = {"supervisor.server", "supervisor.server.a", "supervisor.server.b", "supervisor.server.c", "supervisor"}
    source = """
from typing import TYPE_CHECKING
import os
from supervisor.server import a
if TYPE_CHECKING:
    from supervisor.server.b import Thing
def later():
    import supervisor.server.c
"""
    found = sorted(imported(source, "supervisor.server.d", "supervisor.server", known))
    assert found == [("supervisor.server.a", 4), ("supervisor.server.b", 6), ("supervisor.server.c", 8)]


def test_a_circle_is_found_and_named(tmp_path: Path) -> None:
    # The circle this test was written against: the cycle and the connection typed each other.
    server = tmp_path / "supervisor" / "server"
    server.mkdir(parents=True)
    (tmp_path / "supervisor" / "__init__.py").write_text("")
    (server / "__init__.py").write_text("")
    (server / "cycle.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from supervisor.server.connection import C\n"
    )
    (server / "connection.py").write_text("from supervisor.server.cycle import Cycle\n")
    (server / "state.py").write_text("from supervisor.server import cycle\n")
    edges, packages = package_edges(tmp_path / "supervisor")
    assert packages["supervisor.server.cycle"] == "supervisor.server"
    [(group, path)] = circles(edges)
    assert group == ["supervisor.server.connection", "supervisor.server.cycle"]
    assert path == ["supervisor.server.connection", "supervisor.server.cycle", "supervisor.server.connection"]
    assert describe(path, edges) == (
        "supervisor.server.connection (line 1) -> supervisor.server.cycle; "
        "supervisor.server.cycle (line 3) -> supervisor.server.connection"
    )
