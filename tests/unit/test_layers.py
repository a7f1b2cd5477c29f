"""Imports flow one way: every module imports only its own layer or lower ones (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "supervisor"

# Top-level name inside supervisor/ -> layer.
LAYERS = {
    "errors": 0,
    "_types": 0,
    "_compat": 0,
    "config": 1,
    "protocol": 2,
    "status": 2,
    "control": 2,
    "sockets": 2,
    "logs": 2,
    "asgi": 2,
    "demo": 2,
    "server": 3,
    "master": 4,
    "tui": 5,
    "client": 5,
    "api": 6,
    "cli": 6,
    "workers": 6,
    "__init__": 6,
    "__main__": 6,
}
SIBLINGS_LAYER = 2  # these never import each other
IO_FREE = ("protocol",)  # may not touch sockets, event loops, processes or config/
IO_MODULES = {"asyncio", "socket", "selectors", "signal", "subprocess", "os"}


def _top(module: Path) -> str:
    return module.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(module: Path) -> list[tuple[int, str]]:
    tree = ast.parse(module.read_text(), str(module))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "supervisor":  # `from supervisor import logs`
                found.extend((node.lineno, f"supervisor.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, node.module))
    return found


def _violations() -> list[str]:
    problems = []
    for module in sorted(PACKAGE.rglob("*.py")):
        top = _top(module)
        assert top in LAYERS, f"{module}: add {top!r} to LAYERS in this test and to docs/architecture.md"
        layer = LAYERS[top]
        for line, name in _imports(module):
            where = f"{module.relative_to(PACKAGE.parent)}:{line}"
            parts = name.split(".")
            if parts[0] != "supervisor":
                if top in IO_FREE and parts[0] in IO_MODULES:
                    problems.append(f"{where}: {top}/ is pure and may not import {name}")
                continue
            if len(parts) == 1:
                continue
            target = parts[1] if parts[1] in LAYERS else "__init__"  # a name from the package root
            target_layer = LAYERS[target]
            if target_layer > layer:
                problems.append(f"{where}: {top} (L{layer}) imports {name} (L{target_layer})")
            elif target_layer == layer == SIBLINGS_LAYER and target != top:
                problems.append(f"{where}: {top} and {target} are layer-2 siblings and may not import each other")
            if top in IO_FREE and target == "config":
                problems.append(f"{where}: {top}/ takes plain values, never config/")
    return problems


def test_imports_follow_the_layers() -> None:
    assert _violations() == []


def test_the_layer_table_covers_the_package() -> None:
    assert {_top(m) for m in PACKAGE.rglob("*.py")} <= set(LAYERS)
