"""What `serve up` would trip over in a valid file, found before it starts: `serve check`, and `serve up` itself.

config/ judges the file alone and does no I/O beyond whether a named path exists. These
checks ask the machine: do the users and groups exist, can the directories of the files
the master writes be written, do two addresses that differ as text resolve to the same one,
and (`serve check --import`) does each app import, tried in a child process so that the
app's own code, its sys.path and its environment never touch the checking process.

Each problem names the key and its line in the file (config/locate.py), as config errors do.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from supervisor._compat import TOMLDecodeError, parse_toml
from supervisor.config.convert import Bind, TcpBind, UnixBind
from supervisor.config.locate import KeyLines, KeyPath, format_path, index_keys
from supervisor.config.schema import AppConfig, ServeFile
from supervisor.errors import Problem

IMPORT_TIMEOUT_S = 30.0  # for each app: a slow import is still an import; a hung one is reported as such


@dataclass(frozen=True, slots=True)
class FileLines:
    """Where each key of the file is written: the lines of its keys, and which keys each table writes."""

    path: str
    lines: KeyLines
    document: Mapping[str, Any]

    @classmethod
    def read(cls, path: str) -> FileLines:
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
            return cls(path, index_keys(text), parse_toml(text))
        except (OSError, UnicodeDecodeError, TOMLDecodeError):  # changed since it was loaded: no lines then
            return cls(path, index_keys(""), {})

    def app_key(self, app: str, key: str) -> KeyPath:
        """The key path that sets `key` for `app`: its own table's, else [defaults]'s, else its table's."""
        apps = self.document.get("apps")
        own = apps.get(app) if isinstance(apps, dict) else None
        defaults = self.document.get("defaults")
        if isinstance(defaults, dict) and key in defaults and not (isinstance(own, dict) and key in own):
            return ("defaults", key)
        return ("apps", app, key)

    def problem(self, path: KeyPath, message: str) -> Problem:
        return Problem(self.path, self.lines.line(path), format_path(path), message)


def startup_problems(serve_file: ServeFile) -> list[Problem]:
    """What stops `serve up` before any worker runs: missing users and groups, unwritable directories."""
    where = FileLines.read(serve_file.path)
    return sorted([*account_problems(serve_file, where), *directory_problems(serve_file, where)], key=_order)


def check_problems(serve_file: ServeFile) -> list[Problem]:
    """Everything `serve check` reports of a valid file, but imports: startup problems and bind clashes."""
    where = FileLines.read(serve_file.path)
    found = [*account_problems(serve_file, where), *directory_problems(serve_file, where)]
    found += bind_problems(serve_file, where)
    return sorted(found, key=_order)


def _order(problem: Problem) -> int:
    return problem.line or 0


# --- users and groups ------------------------------------------------------------------------


def account_problems(serve_file: ServeFile, where: FileLines) -> Iterator[Problem]:
    """Users and groups that do not exist, or that this process cannot switch to (spawn.py does, after fork)."""
    import grp
    import pwd

    for name, app in serve_file.apps.items():
        if app.group:
            try:
                if not app.group.isdigit():  # a numeric id is used as it is, as spawn.py does
                    grp.getgrnam(app.group)
            except KeyError:
                yield where.problem(where.app_key(name, "group"), f'no such group: "{app.group}"')
        if app.user:
            try:
                pwd.getpwuid(int(app.user)) if app.user.isdigit() else pwd.getpwnam(app.user)
            except KeyError:
                yield where.problem(where.app_key(name, "user"), f'no such user: "{app.user}"')
                continue
        if (app.user or app.group) and os.geteuid() != 0:
            key = "user" if app.user else "group"
            yield where.problem(
                where.app_key(name, key), f"switching {key} needs root; serve runs as uid {os.geteuid()}"
            )


# --- directories -----------------------------------------------------------------------------


def directory_problems(serve_file: ServeFile, where: FileLines) -> Iterator[Problem]:
    """Files the master creates whose directory is missing or not writable."""
    server = serve_file.server
    for key, path in (("control_socket", server.control_socket), ("pid_file", server.pid_file)):
        if path and (reason := _unwritable_directory(path)):
            yield where.problem(("server", key), reason)
    for name, app in serve_file.apps.items():
        if app.log_file and (reason := _unwritable_directory(app.log_file)):
            yield where.problem(where.app_key(name, "log_file"), reason)


def _unwritable_directory(path: str) -> str | None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return f"no such directory: {directory} (for {path})"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"directory not writable by uid {os.geteuid()}: {directory} (for {path})"
    return None


# --- addresses -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Endpoint:
    key: KeyPath
    bind: Bind
    resolved: tuple[int, str, int] | str | None  # (family, ip, port), a unix path, or None: not comparable


def bind_problems(serve_file: ServeFile, where: FileLines) -> Iterator[Problem]:
    """Addresses that clash once names are resolved as sockets.py binds them, the master's endpoints
    included; clashes already visible in the text are config/loader.py's to report."""
    taken: list[_Endpoint] = []
    for endpoint in _endpoints(serve_file):
        clash = next((other for other in taken if _clash(other, endpoint)), None)
        if clash is None:
            taken.append(endpoint)
            continue
        resolved = f" (both are {_show(endpoint.resolved)})" if str(clash.bind) != str(endpoint.bind) else ""
        yield where.problem(
            endpoint.key, f"{endpoint.bind} is already bound by {format_path(clash.key)} = {clash.bind}{resolved}"
        )


def _endpoints(serve_file: ServeFile) -> Iterator[_Endpoint]:
    server = serve_file.server
    for key in ("metrics_bind", "health_bind"):
        bind = getattr(server, key)
        if bind is not None:
            yield _Endpoint(("server", key), bind, _resolve(bind))
    for name, app in serve_file.apps.items():
        for index, bind in enumerate(app.bind):
            yield _Endpoint(("apps", name, "bind", index), bind, _resolve(bind))


def _resolve(bind: Bind) -> tuple[int, str, int] | str | None:
    if isinstance(bind, UnixBind):
        return os.path.normpath(os.path.abspath(bind.path))
    if not isinstance(bind, TcpBind) or bind.port == 0:
        return None
    host = bind.host.strip("[]")
    if ":" in host:  # sockets.bind_tcp: a colon means an IPv6 literal, anything else goes through AF_INET
        return (socket.AF_INET6, socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, host)), bind.port)
    try:
        return (socket.AF_INET, socket.gethostbyname(host), bind.port)
    except OSError:
        return None  # a name that does not resolve here: `serve up` says so when it binds


def _clash(one: _Endpoint, other: _Endpoint) -> bool:
    a, b = one.resolved, other.resolved
    if a is None or b is None or type(a) is not type(b):
        return False
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if a[0] != b[0] or a[2] != b[2]:
        return False
    return a[1] == b[1] or a[1] in ("0.0.0.0", "::") or b[1] in ("0.0.0.0", "::")


def _show(resolved: tuple[int, str, int] | str | None) -> str:
    if isinstance(resolved, tuple):
        return f"[{resolved[1]}]:{resolved[2]}" if resolved[0] == socket.AF_INET6 else f"{resolved[1]}:{resolved[2]}"
    return f"unix:{resolved}"


def explain_bind_failure(serve_file: ServeFile, message: str) -> str:
    """A bind failure ("127.0.0.1:8100: address already in use") told as the key and line that name the
    address, and whether the file's own master, already running, is what holds it."""
    from supervisor import registry

    address = message.partition(": ")[0]
    keys = [endpoint.key for endpoint in _endpoints(serve_file) if str(endpoint.bind) == address]
    if serve_file.server.control_socket and address == str(UnixBind(serve_file.server.control_socket)):
        keys.append(("server", "control_socket"))
    where = FileLines.read(serve_file.path)
    told = "\n".join(str(where.problem(key, message)) for key in keys) or message
    if "in use" not in message:
        return told
    own = [master for master in registry.live_masters() if master.config_path == serve_file.path]
    if own:
        told += (
            f"\nthis file's own master is already running (pid {own[0].pid}): `serve reload -c {serve_file.path}`"
            " applies changes to it; `serve stop` it first to start another"
        )
    return told


# --- imports ---------------------------------------------------------------------------------


def import_problems(serve_file: ServeFile, *, timeout: float = IMPORT_TIMEOUT_S) -> list[Problem]:
    """Import each app as a worker would, each in its own child process; one problem per app that fails."""
    where = FileLines.read(serve_file.path)
    found = []
    for name, app in serve_file.apps.items():
        reason = import_error(app, timeout=timeout)
        if reason is not None:
            found.append(where.problem(where.app_key(name, "app"), reason))
    return found


def import_error(app: AppConfig, *, timeout: float = IMPORT_TIMEOUT_S) -> str | None:
    """Why `app` cannot be loaded (the app's own error: type, message, file:line), or None if it loads."""
    if not isinstance(app.app, str):
        return None
    spec = {
        "app": app.app,
        "factory": app.factory,
        "interface": app.interface,
        "app_dir": app.app_dir or ".",
        "env_file": app.env_file,
        "env": dict(app.env),
    }
    script = "import sys; from supervisor.preflight import import_main; sys.exit(import_main(sys.argv[1]))"
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"importing {app.app} did not finish within {timeout:g} s"
    except OSError as error:
        return f"cannot start {sys.executable} to import {app.app}: {error.strerror}"
    if done.returncode == 0:
        return None
    answer = done.stdout.strip().splitlines()
    if answer:
        return answer[-1]
    last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    return f"importing {app.app} failed: {last}"


def import_main(argument: str) -> int:
    """In the child of `import_error`: load the app `argument` describes; print why not and return 1."""
    from supervisor.asgi.environment import apply_environment
    from supervisor.asgi.loader import load_app
    from supervisor.errors import AppLoadError

    spec = json.loads(argument)
    try:
        apply_environment(spec["env_file"], spec["env"])
        load_app(spec["app"], factory=spec["factory"], interface=spec["interface"], app_dir=spec["app_dir"])
    except AppLoadError as error:
        told = str(error).replace("\n", " ")
        cause = error.__cause__
        if isinstance(cause, SyntaxError) and cause.filename and cause.filename not in told:
            told += f" (at {cause.filename}:{cause.lineno})"  # its str() names the file without its directory
        print(told, flush=True)
        return 1
    except (Exception, SystemExit) as error:  # the env_file, or a factory that exits
        print(f"loading {spec['app']} failed: {type(error).__name__}: {error}", flush=True)
        return 1
    return 0
