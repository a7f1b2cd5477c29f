"""The layout rules of STYLE.md, as tables, and one small engine that holds the package to them.

These tables are the rule (docs/architecture.md says so); module docstrings do not restate it.
Every import counts wherever it is written, at module level, inside a function or under
`if TYPE_CHECKING:`: a type-only import is still a dependency, and still closes a circle.

Names in the tables: ".x.y" is supervisor/x/y(.py) and everything below it; any other name is
an outside module, or an fnmatch pattern over a dotted use of one ("os.path" allows
`os.path.join(...)` but not `os.getpid()`; "signal.SIG*" allows `signal.SIGHUP`).
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "supervisor"


@dataclass(frozen=True)
class May:
    """One row of ALLOW: what the modules it covers may import (and use, of an outside module)."""

    names: tuple[str, ...] = ()
    # Imported only inside a function (or for type checking): never while the importer loads.
    lazy: Mapping[str, str] = field(default_factory=dict)  # name -> why

    def plus(self, *names: str, lazy: Mapping[str, str] | None = None) -> May:
        return May(self.names + names, {**self.lazy, **(lazy or {})})


# Touching any of these does I/O: descriptors, processes, signals, clocks, threads, terminals,
# the file system. Any other standard-library module may be imported anywhere. `logging` is
# not here: a module may hand a logger to a library (protocol/websocket.py), and where the
# records go is logs.py's business.
IO_MODULES = frozenset(
    {"asyncio", "concurrent", "ctypes", "datetime", "fcntl", "faulthandler", "grp", "http.client", "http.server"}
    | {"io", "mmap", "multiprocessing", "os", "pathlib", "pty", "pwd", "resource", "select", "selectors", "shutil"}
    | {"signal", "socket", "socketserver", "ssl", "subprocess", "sys", "tempfile", "termios", "threading", "time"}
    | {"tty", "urllib.request"}
)

# What a pure module may still touch of those, and why that is no I/O.
PURE_MAY_TOUCH = {
    # config/ turns a file into values: it resolves paths against the file's directory and checks
    # that files and directories named in it exist (`serve check` must say so); no socket,
    # process, signal or clock.
    "os.path": "path strings, and whether a configured path exists",
    "os.fspath": "a path argument as a string",
    "os.PathLike": "the type of a path argument",
    "os.environ": "Config() reads WEB_CONCURRENCY and FORWARDED_ALLOW_IPS, as uvicorn's does",
    "datetime.date": "the type of a TOML date value, not the clock",
    "datetime.time": "the type of a TOML time value, not the clock",
    "ssl.PROTOCOL_*": "a constant, as a setting's default",
    "ssl.CERT_*": "a constant, as a setting's default",
    "signal.SIG*": "naming a signal is not sending one (control.py maps signals to commands)",
    "sys.version_info": "_compat.py picks tomllib or tomli",
}


def may(*names: str, lazy: Mapping[str, str] | None = None) -> May:
    return May(names, dict(lazy or {}))


L0 = (".errors", "._types", "._compat")
PATHS = ("os.path", "os.fspath", "os.PathLike")

CONFIG = may(*L0, ".config", *PATHS, "datetime.date", "datetime.time", "ssl.PROTOCOL_*", "ssl.CERT_*")
PROTOCOL = may(*L0, ".protocol")
STATUS = may(*L0, ".status")
ASGI = may(*L0, ".asgi", "os", "sys")
SERVER = may(*L0, ".server", ".config", ".protocol", ".asgi", ".status", ".logs", ".sockets").plus(
    "asyncio", "os", "signal", "socket", "ssl", "time"
)
MASTER = (
    may(*L0, ".master", ".config", ".control", ".status", ".sockets", ".logs", ".asgi", ".hooks")
    .plus("os", "signal", "socket", "select", "selectors", "time", "resource", "sys", "pathlib")
    .plus("faulthandler", "grp", "pwd")  # the child bootstrap: dumps, users
)
TUI = may(*L0, ".tui", ".status", ".control", ".client", ".config").plus(
    "os", "sys", "selectors", "threading", "time", "termios", "tty", "rich"
)

# Most specific row first: a module's own row, else its package's.
ALLOW: dict[str, May] = {
    "errors": may(),
    "_types": may(),
    "_compat": may("sys.version_info"),
    "config": CONFIG,
    "config.options": CONFIG.plus("os.environ", "click"),
    "protocol": PROTOCOL,
    "protocol.front_h11": PROTOCOL.plus("h11"),
    "protocol.front_httptools": PROTOCOL.plus("httptools"),
    "protocol.websocket": PROTOCOL.plus("websockets"),
    "protocol.h2_front": PROTOCOL.plus("h2", "hyperframe", "hpack"),
    "status": STATUS,
    "status.slots": STATUS.plus("mmap", "os", "time"),  # the shared-memory table and its heartbeat clock
    "status.prometheus": STATUS.plus("prometheus_client"),
    "control": may(*L0, "signal.SIG*"),
    "sockets": may(*L0, "fcntl", "os", "socket"),
    "logs": may(*L0, ".config.access_format", "os", "select", "stat", "sys", "time", "yaml"),
    "asgi": ASGI,
    "asgi.adapters": ASGI.plus("a2wsgi"),
    "asgi.environment": ASGI.plus("dotenv"),
    "demo": may(*L0, ".demo", "asyncio", "os"),
    "server": SERVER,
    "server.loops": SERVER.plus("uvloop"),
    "server.worker": SERVER.plus(".hooks", "psutil", "threading"),  # the orphan timer runs while the loop is stuck
    "master": MASTER,
    # STYLE's pure policies, each held to exactly what it works on.
    "master.pool": may(*L0, ".master.actions", ".master.backoff", ".master.roster", ".status.snapshot"),
    "master.plan": may(*L0, ".config"),
    "master.logring": may(*L0, ".control"),  # the kept output lines: fed and read by the loop, no I/O
    "master.spawn": MASTER.plus(
        "fcntl",  # the worker's output pipe is enlarged (F_SETPIPE_SZ)
        lazy={".server": "in the child, after fork: the master never imports uvloop or the app"},
    ),
    "master.watcher": MASTER.plus(lazy={"watchfiles": "its threads live in the forked watcher, never in the master"}),
    # The apps and how a reload changes them: preloading imports an app (asgi/), nothing forks or waits here.
    "master.apps": may(
        *L0, ".master", ".config", ".control", ".status", ".asgi", ".preflight", ".hooks", "os.getcwd", "time.monotonic"
    ),
    # The worker processes: fork (through spawn.py), signal, reap, and the slot table they share.
    "master.processes": may(*L0, ".master", ".config", ".status", "os", "signal", "time"),
    "master.control_server": MASTER.plus(".registry"),  # registers the bound control socket
    # `serve upgrade`: the old master forks and execs the new one; the new one's side of the handover.
    "master.upgrade": may(*L0, ".master", "os", "signal", "socket", "sys"),
    "master.handover": may(*L0, ".config.convert", ".master.listeners", "os", "socket"),
    # Which of the two masters does what, and when, in `serve upgrade` (no I/O of its own but the pid file's).
    "master.succession": may(
        *L0, ".master", ".config.schema", ".control", ".errors", ".status.snapshot", "os", "socket", "time"
    ),
    # metrics_bind and health_bind: opened, or taken over from the old master, and handed to the new one.
    "master.endpoints": may(*L0, ".master", ".config.schema", ".status.snapshot", "socket"),
    # The user's hook functions: imported (with a directory first on sys.path) and called where they run.
    "hooks": may(*L0, ".asgi", "os.path", "os.getpid", "os._exit", "os.getcwd", "sys.path"),
    "preflight": may(*L0, ".config", ".registry", "grp", "os", "pwd", "socket", "subprocess", "sys").plus(
        lazy={".asgi": "in the child that `serve check --import` starts, never in the checking process"}
    ),
    "registry": may(*L0, "os", "socket", "tempfile", lazy={"psutil": "only readers check pids; the master writes"}),
    "tui": TUI,
    "tui.render": may(
        *L0, ".status.snapshot", ".tui.view", ".tui.formats", ".tui.loglines", ".tui.panes", ".tui.table", "rich"
    ),  # Snapshot -> renderable
    "tui.keys": may(*L0, ".control", ".tui.view", ".tui.loglines"),  # bytes -> key presses -> commands
    "client": may(*L0, ".config", ".control", ".registry", "os", "socket", "time", "psutil"),
    "api": may(*L0, ".config", ".logs", ".master", ".server"),
    "cli": may(
        *L0, ".__init__", ".api", ".asgi", ".client", ".config", ".control", ".logs", ".master", ".status", ".tui"
    ).plus(".registry", ".preflight", "click", "os", "sys"),
    "workers": may(*L0, ".config", ".server", "asyncio", "os.getppid", "signal", "gunicorn"),  # SIGINT on the loop
    "__init__": may(lazy={".api": "`import supervisor` (the master, `serve check`) must not load the server stack"}),
    "__main__": may(".cli"),
}

# No I/O: time and outside state come in as arguments, so each is unit-tested in-process. A pure
# module imports only pure modules, so purity cannot leak in through a neighbour.
PURE = frozenset(
    {"errors", "_types", "_compat", "config", "protocol", "control", "asgi.proxy_headers"}
    | {"status.figures", "status.snapshot", "status.prometheus"}
    | {"master.actions", "master.backoff", "master.exits", "master.plan", "master.pool", "master.reloads"}
    | {"master.roster", "master.logring"}
    | {"tui.formats", "tui.keys", "tui.render", "tui.text", "tui.view", "tui.loglines", "tui.panes", "tui.table"}
)

# STYLE's point rules about imports: (importer, imported, why). An importer's `lazy` entries
# are the only exceptions, and only where they are imported inside a function.
NEVER = (
    ("tui", ".master", "tui/ and master/ never import each other: cli.py hands the master a screen"),
    ("master", ".tui", "tui/ and master/ never import each other: cli.py hands the master a screen"),
    ("master", ".server", "the master never imports server/ (uvloop, the app) but in master/spawn.py after fork"),
    ("master", "uvloop", "the master never imports uvloop"),
    ("protocol", ".config", "protocol/ takes plain values, not even config/"),
)


@dataclass(frozen=True)
class Point:
    """Calls only some modules make. A name starting with "." is a method of any object."""

    does: str
    calls: tuple[str, ...]
    allowed: Mapping[str, str]  # module or package -> why it may

    def hits(self, callee: str) -> bool:
        if callee.startswith("supervisor."):  # a function of our own, e.g. sockets.bind_unix
            return False
        return any(callee == c or (c.startswith(".") and callee.endswith(c)) for c in self.calls)


POINTS = (
    Point(
        "binds or listens on a socket",
        (".bind", ".listen"),
        {
            "sockets": "the only bind(): listeners, the control socket and the endpoints all come from here",
            "asgi.loader": "inspect.Signature.bind() tries a factory's parameters; no socket",
        },
    ),
    Point(
        "forks",
        ("os.fork", "os.forkpty", "pty.fork"),
        {"master.child": "fork() blocks the master's signals across os.fork; spawn.py and watcher.py use it"},
    ),
    Point(
        "kills or waits for a process",
        ("os.kill", "os.killpg", "os.wait", "os.wait3", "os.wait4", "os.waitid", "os.waitpid"),
        {"master": "the master owns every child process"},
    ),
    Point(
        "exits",
        ("sys.exit", "exit", "quit", ".exit", "SystemExit"),
        {"cli": "the one place that chooses the exit status (click's ctx.exit)"},
    ),
    Point(
        "leaves the process with os._exit",
        ("os._exit",),
        {
            "master.spawn": "a forked worker ends without the master's atexit hooks or buffered output",
            "master.watcher": "a forked watcher ends without the master's atexit hooks or buffered output",
            "master.upgrade": "the child forked to exec the new master ends so if the exec fails",
            "server.worker": "the orphan timer ends a worker whose main thread is stuck, maybe holding a lock",
            "hooks": "the child of a hook that forked and returned must not go on as a second master or worker",
        },
    ),
)

# STYLE's layers. A row may allow its own layer or lower ones; layer-2 siblings never each other.
LAYERS = {
    **dict.fromkeys(("errors", "_types", "_compat"), 0),
    "config": 1,
    **dict.fromkeys(("protocol", "status", "control", "sockets", "logs", "asgi", "demo", "registry"), 2),
    **dict.fromkeys(("server", "preflight", "hooks"), 3),
    "master": 4,
    **dict.fromkeys(("tui", "client"), 5),
    **dict.fromkeys(("api", "cli", "workers", "__init__", "__main__"), 6),
}
SIBLINGS = 2

# ---------------------------------------------------------------------------------------------
# The engine: sources in (module name -> text), problems out.


@dataclass(frozen=True)
class Use:
    name: str  # ".master.pool" (the module imported) or "os.getpid" (an outside import or use)
    line: int
    lazy: bool  # inside a function or under `if TYPE_CHECKING:`: not run while the module loads
    imported: bool  # an import statement, not a use of an imported name


@dataclass(frozen=True)
class Facts:
    uses: tuple[Use, ...]
    calls: tuple[tuple[str, int], ...]  # (callee, line); "?.name" for a method of an expression


def read_tree() -> dict[str, str]:
    """Every module's source, by dotted name below supervisor/ (a package's __init__ is the package)."""
    sources = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        sources[".".join(parts)] = path.read_text()
    return sources


def path_of(module: str, modules: frozenset[str]) -> str:
    if any(other.startswith(module + ".") for other in modules):
        return f"supervisor/{module.replace('.', '/')}/__init__.py"
    return f"supervisor/{module.replace('.', '/')}.py"


def within(module: str, key: str) -> bool:
    return module == key or module.startswith(key + ".")


def matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(name, p) or name.startswith(p + ".") for p in patterns)


def is_io(name: str) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:n]) in IO_MODULES for n in range(1, len(parts) + 1))


def is_pure(module: str) -> bool:
    return any(within(module, key) for key in PURE)


def row_of(module: str) -> str | None:
    parts = module.split(".")
    return next((key for n in range(len(parts), 0, -1) if (key := ".".join(parts[:n])) in ALLOW), None)


def _dotted(node: ast.expr) -> list[str] | None:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute) and (head := _dotted(node.value)) is not None:
        return [*head, node.attr]
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (_dotted(test) or [""])[-1] == "TYPE_CHECKING"


class _Scanner(ast.NodeVisitor):
    def __init__(self, module: str, modules: frozenset[str], package: str) -> None:
        self.module, self.modules, self.package = module, modules, package
        self.bound: dict[str, str] = {}  # local name -> the full name it was imported as
        self.uses: list[Use] = []
        self.calls: list[tuple[str, int]] = []
        self.depth = 0  # > 0 inside a function or a TYPE_CHECKING block

    def name_of(self, full: str) -> str:
        """The module of supervisor/ that `full` names, as ".x.y" (its longest module prefix); else `full`."""
        if full != "supervisor" and not full.startswith("supervisor."):
            return full
        parts = full.split(".")[1:]
        found = next(
            (".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in self.modules), None
        )
        return "." + (found or "__init__")

    def base_of(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        parts = ["supervisor", *self.package.split(".")] if self.package else ["supervisor"]
        return ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))

    def imported(self, full: str, node: ast.stmt) -> None:
        self.uses.append(Use(self.name_of(full), node.lineno, self.depth > 0, imported=True))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imported(alias.name, node)
            top = alias.name.split(".")[0]  # `import os.path` binds `os`
            self.bound[alias.asname or top] = alias.name if alias.asname else top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self.base_of(node)
        if base == "__future__":
            return
        for alias in node.names:
            self.imported(f"{base}.{alias.name}", node)
            self.bound[alias.asname or alias.name] = f"{base}.{alias.name}"

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.inside(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.inside(node)

    def inside(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.depth += 1
        for statement in node.body:
            self.visit(statement)
        self.depth -= 1
        for statement in node.orelse:
            self.visit(statement)

    def resolved(self, node: ast.expr) -> str | None:
        """The full dotted name `node` stands for, when it starts with an imported name."""
        chain = _dotted(node)
        if chain is None or chain[0] not in self.bound:
            return None
        return ".".join([self.bound[chain[0]], *chain[1:]])

    def used(self, node: ast.Attribute | ast.Name) -> None:
        name = self.resolved(node)
        if name is not None and name.split(".")[0] != "supervisor":  # our own modules count by import
            self.uses.append(Use(name, node.lineno, self.depth > 0, imported=False))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if _dotted(node) is None:
            self.generic_visit(node)
        else:
            self.used(node)

    def visit_Name(self, node: ast.Name) -> None:
        self.used(node)

    def visit_Call(self, node: ast.Call) -> None:
        chain = _dotted(node.func)
        if (callee := self.resolved(node.func)) is None and chain is not None:
            callee = ".".join(chain)
        if callee is None and isinstance(node.func, ast.Attribute):
            callee = "?." + node.func.attr
        if callee is not None:
            self.calls.append((callee, node.lineno))
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        if isinstance(node.exc, ast.Name) and node.exc.id == "SystemExit":
            self.calls.append(("SystemExit", node.lineno))
        self.generic_visit(node)


@functools.lru_cache(maxsize=512)
def scan(module: str, source: str, modules: frozenset[str]) -> Facts:
    package = module if any(m.startswith(module + ".") for m in modules) else module.rpartition(".")[0]
    if module == "__init__":
        package = ""
    tree = ast.parse(source)
    scanner = _Scanner(module, modules, package)
    for node in ast.walk(tree):  # bind every imported name first: a use may come before its import
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            _Scanner.visit(scanner, node)
    scanner.uses.clear()
    scanner.visit(tree)
    return Facts(tuple(scanner.uses), tuple(scanner.calls))


def _checked(name: str) -> bool:
    """Outside names the tables govern: I/O modules and everything not in the standard library."""
    top = name.split(".")[0]
    return name.startswith(".") or is_io(name) or top not in sys.stdlib_module_names


def _never(module: str, use: Use, row: May) -> str | None:
    if use.lazy and matches(use.name, tuple(row.lazy)):
        return None
    for importer, imported, why in NEVER:
        if within(module, importer) and matches(use.name, (imported,)):
            return f"{module} imports {use.name.lstrip('.')}: {why}"
    return None


def _lazy(module: str, use: Use, row: May) -> str | None:
    for name, why in row.lazy.items():
        if not use.lazy and matches(use.name, (name,)):
            return f"{module} imports {use.name.lstrip('.')} while it loads; only inside a function: {why}"
    return None


def _pure(module: str, use: Use, row: May) -> str | None:
    if not is_pure(module):
        return None
    if use.name.startswith("."):
        if is_pure(use.name[1:]):
            return None
        return f"{module} is pure and may not import {use.name[1:]}, which is not"
    may_touch = tuple(PURE_MAY_TOUCH)
    # `import os` is fine where the row allows only harmless parts of os, which each use is held to.
    parts = [p for p in row.names if p.startswith(use.name + ".") and matches(p, may_touch)]
    if not is_io(use.name) or matches(use.name, may_touch) or (use.imported and parts):
        return None
    return f"{module} is pure and may not use {use.name} (I/O)"


def _allowed(module: str, use: Use, row: May) -> str | None:
    names = (*row.names, *row.lazy)
    if matches(use.name, names) or (use.imported and any(p.startswith(use.name + ".") for p in names)):
        return None
    return f"{module} may not import {use.name.lstrip('.')} (not in its row of ALLOW, {row_of(module)!r})"


def _import_problems(module: str, facts: Facts, where: str) -> Iterator[str]:
    key = row_of(module)
    if key is None:
        yield f"{where}: {module} has no row in ALLOW"
        return
    row = ALLOW[key]
    for use in facts.uses:
        if not _checked(use.name) or use.name == f".{module}":
            continue
        for rule in (_lazy, _never, _pure, _allowed):
            if problem := rule(module, use, row):
                yield f"{where}:{use.line}: {problem}"
                break


def _call_problems(module: str, facts: Facts, where: str) -> Iterator[str]:
    for callee, line in facts.calls:
        for point in POINTS:
            if point.hits(callee) and not any(within(module, key) for key in point.allowed):
                places = ", ".join(sorted(point.allowed))
                yield f"{where}:{line}: {module} {point.does} ({callee}); only {places} may"


def _strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _shortest_cycle(start: str, graph: Mapping[str, set[str]], members: set[str]) -> list[str]:
    paths = {start: [start]}
    queue = [start]
    for node in queue:
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return paths[node]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return [start]  # unreachable for a component's member


def _cycles(facts: Mapping[str, Facts], modules: frozenset[str]) -> Iterator[str]:
    lines: dict[tuple[str, str], int] = {}
    for module, found in facts.items():
        for use in found.uses:
            if use.name.startswith(".") and use.name[1:] != module:
                lines.setdefault((module, use.name[1:]), use.line)
    graph: dict[str, set[str]] = {module: set() for module in facts}
    for module, target in lines:
        graph[module].add(target)
    for component in _strongly_connected(graph):
        cycle = _shortest_cycle(component[0], graph, set(component))
        steps = [
            f"{path_of(a, modules)}:{lines[a, b]} imports {b}"
            for a, b in zip(cycle, [*cycle[1:], cycle[0]], strict=True)
        ]
        yield f"import cycle among {', '.join(component)}: " + "; ".join(steps)


def check(sources: Mapping[str, str]) -> list[str]:
    """Every way `sources` (module name -> text) break the tables, one line each."""
    modules = frozenset(sources)
    facts = {module: scan(module, sources[module], modules) for module in sorted(sources)}
    problems: list[str] = []
    for module, found in facts.items():
        where = path_of(module, modules)
        problems += _import_problems(module, found, where)
        problems += _call_problems(module, found, where)
    problems += _cycles(facts, modules)
    return problems


# ---------------------------------------------------------------------------------------------
# The tests.


@pytest.fixture(scope="module")
def tree() -> dict[str, str]:
    return read_tree()


def test_the_package_keeps_the_rules(tree: dict[str, str]) -> None:
    assert check(tree) == []


def test_every_row_names_a_module_and_every_module_has_a_row(tree: dict[str, str]) -> None:
    named = [*ALLOW, *PURE, *(key for point in POINTS for key in point.allowed), *(rule[0] for rule in NEVER)]
    assert [key for key in named if not any(within(module, key) for module in tree)] == []
    assert [module for module in tree if row_of(module) is None] == []


def test_rows_allow_only_their_layer_or_lower_ones() -> None:
    wrong = []
    for key, row in ALLOW.items():
        top = key.split(".")[0]
        for name in (*row.names, *row.lazy):
            if not name.startswith("."):
                continue
            target = name[1:].split(".")[0]
            if LAYERS[target] > LAYERS[top] or (target != top and LAYERS[target] == LAYERS[top] == SIBLINGS):
                wrong.append(f"{key} -> {name}")
    assert wrong == []


def test_each_exception_to_a_point_rule_is_still_needed(tree: dict[str, str]) -> None:
    modules = frozenset(tree)
    calls = {module: [callee for callee, _ in scan(module, tree[module], modules).calls] for module in tree}
    unused = [
        f"{key} no longer {point.does}"
        for point in POINTS
        for key in point.allowed
        if not any(point.hits(callee) for module in tree if within(module, key) for callee in calls[module])
    ]
    assert unused == []


def test_module_docstrings_leave_the_rule_to_these_tables(tree: dict[str, str]) -> None:
    restated = [
        module for module, source in tree.items() if "May import:" in (ast.get_docstring(ast.parse(source)) or "")
    ]
    assert restated == [], "the tables above are the rule: a docstring that restates them drifts"


BREAKS = {
    # module: (code appended to its source, what the new problem must mention)
    "tui-render-imports-master": ("tui.render", "import supervisor.master", "tui/ and master/ never"),
    "arbiter-imports-connection": (
        "master.arbiter",
        "from supervisor.server.connection import HttpConnection",
        "the master never imports server/",
    ),
    "pool-imports-os": ("master.pool", "import os", "is pure and may not use os"),
    "pool-imports-socket": ("master.pool", "import socket", "is pure and may not use socket"),
    "schema-imports-socket": ("config.schema", "import socket", "is pure and may not use socket"),
    "plan-imports-tui": ("master.plan", "from supervisor.tui import render", "tui/ and master/ never"),
    # The other rules, one break each.
    "config-reads-the-pid": ("config.loader", "PID = os.getpid()", "is pure and may not use os.getpid"),
    "keys-reads-the-clock": ("tui.keys", "from time import monotonic", "is pure and may not use time.monotonic"),
    "pool-imports-impure-neighbour": ("master.pool", "import supervisor.master.reactor", "which is not"),
    "protocol-reads-config": ("protocol.request", "from supervisor.config import schema", "not even config/"),
    "status-imports-server": ("status.slots", "import supervisor.server.flow", "may not import server.flow"),
    "master-imports-uvloop": ("master.arbiter", "import uvloop", "never imports uvloop"),
    "worker-imports-click": ("server.worker", "import click", "may not import click"),
    "spawn-imports-server-early": ("master.spawn", "import supervisor.server.worker", "only inside a function"),
    "tui-types-master": (
        "tui.screen",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from supervisor.master.arbiter import run_master",
        "tui/ and master/ never",
    ),
    "server-binds": ("server.server", "def bind(sock):\n    sock.bind(('127.0.0.1', 0))", "binds or listens"),
    "arbiter-forks": ("master.arbiter", "def fork():\n    return os.fork()", "forks (os.fork)"),
    "client-binds-a-new-socket": ("client", "def serve():\n    socket.socket().listen()", "binds or listens"),
    "arbiter-forks-by-name": ("master.arbiter", "from os import fork as f\ndef spawn():\n    f()", "forks (os.fork)"),
    "server-waits": ("server.server", "def reap():\n    os.waitpid(-1, 0)", "kills or waits"),
    "arbiter-exits": ("master.arbiter", "import sys\ndef leave():\n    sys.exit(3)", "exits (sys.exit)"),
    "api-raises-system-exit": ("api", "def leave():\n    raise SystemExit", "exits (SystemExit)"),
    "output-uses-os-exit": ("master.output", "def leave():\n    os._exit(1)", "leaves the process with os._exit"),
    "type-only-circle": (
        "status.figures",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from supervisor.status import prometheus",
        "import cycle among status.figures, status.prometheus",
    ),
}


@pytest.mark.parametrize(("module", "code", "expected"), BREAKS.values(), ids=BREAKS.keys())
def test_an_injected_break_is_caught(tree: dict[str, str], module: str, code: str, expected: str) -> None:
    broken = {**tree, module: f"{tree[module]}\n{code}\n"}
    new = set(check(broken)) - set(check(tree))
    where = path_of(module, frozenset(tree))
    assert [problem for problem in new if expected in problem and where in problem] != [], new
