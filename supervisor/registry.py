"""This user's running masters, found without their TOML file: each registers its control socket here.

`serve status` run from another directory, or after `scripts/up` (which serves
serve.toml.example), has no file to read the control socket from. So each master, once its
control socket is bound, writes one small file named by its pid into a per-user runtime
directory, saying where its socket and its TOML file are, and removes it when it exits.
A master killed before it could do so leaves its file behind: a reader ignores and removes
an entry whose pid is gone or whose socket does not accept a connection.

The directory is $XDG_RUNTIME_DIR/serve (systemd makes that per-user, 0700) when set and
writable, else /tmp/serve-UID, created 0700 and used only while it is a real directory
owned by this user that no one else may write to: anyone may create a name in /tmp first.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import tempfile
from dataclasses import dataclass

CONNECT_TIMEOUT_S = 0.5  # a live master accepts on its control socket at once, even when busy (backlog)


class RegistryError(OSError):
    """The runtime directory cannot be used (not ours, not a directory, or not writable)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One registered master."""

    pid: int
    control_socket: str  # absolute
    config_path: str  # absolute


def runtime_dir(environ: dict[str, str] | None = None) -> str:
    """The directory this user's masters register in, created if missing.

    Raises:
        RegistryError: it cannot be created, or is not a private directory of this user.
    """
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg) and os.path.isdir(xdg) and os.access(xdg, os.W_OK | os.X_OK):
        return _private(os.path.join(xdg, "serve"))
    return _private(os.path.join(tempfile.gettempdir(), f"serve-{os.getuid()}"))


def _private(path: str) -> str:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as error:
        raise RegistryError(f"cannot create {path}: {error.strerror}") from None
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise RegistryError(f"{path} is not a directory (a symlink or a file is in its place)")
    if info.st_uid != os.getuid():
        raise RegistryError(f"{path} belongs to uid {info.st_uid}, not to this user ({os.getuid()})")
    if info.st_mode & 0o022:
        raise RegistryError(f"{path} may be written by other users (mode {stat.S_IMODE(info.st_mode):o})")
    return path


def register(control_socket: str, config_path: str, *, pid: int | None = None, directory: str | None = None) -> str:
    """Record that the master `pid` (this process) listens on `control_socket` for `config_path`.

    Returns the entry's path. Raises:
        OSError: the runtime directory or the entry cannot be written (RegistryError says why).
    """
    folder = directory or runtime_dir()
    owner = os.getpid() if pid is None else pid
    path = os.path.join(folder, str(owner))
    text = json.dumps({"control_socket": os.path.abspath(control_socket), "config": os.path.abspath(config_path)})
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text + "\n")
        os.replace(temporary, path)  # a reader sees the whole entry or none
    except OSError:
        with contextlib.suppress(OSError):  # a full disk must not leave a half-written file behind
            os.unlink(temporary)
        raise
    return path


def unregister(control_socket: str, *, pid: int | None = None, directory: str | None = None) -> None:
    """Remove this master's entry, if it still names `control_socket`; never raises."""
    try:
        folder = directory or runtime_dir()
        path = os.path.join(folder, str(os.getpid() if pid is None else pid))
        entry = _read(path)
        if entry is not None and entry.control_socket == os.path.abspath(control_socket):
            os.unlink(path)
    except OSError:
        pass  # the directory went away, or another process removed the entry: nothing to undo


def live_masters(directory: str | None = None) -> list[Entry]:
    """Every registered master that still runs and accepts on its control socket, by pid; stale entries
    are removed on the way. An unusable runtime directory holds none."""
    try:
        folder = directory or runtime_dir()
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for name in sorted(names, key=lambda n: (len(n), n)):
        if not name.isdigit():
            continue
        path = os.path.join(folder, name)
        entry = _read(path)
        if entry is not None and _alive(entry.pid) and _accepts(entry.control_socket):
            found.append(entry)
            continue
        with contextlib.suppress(OSError):
            os.unlink(path)
    return found


def master_of(config_path: str, directory: str | None = None) -> Entry | None:
    """The running master registered for the TOML file at `config_path`, matched by the file's absolute
    or resolved path, whatever the file holds now (a control command reaches it while the file is
    mid-save: empty, half-written, its control_socket line half-typed)."""
    wanted = {os.path.abspath(config_path), os.path.realpath(config_path)}
    for entry in live_masters(directory):
        if entry.config_path in wanted or os.path.realpath(entry.config_path) in wanted:
            return entry
    return None


def _read(path: str) -> Entry | None:
    try:
        with open(path, encoding="utf-8") as file:
            fields = json.loads(file.read())
        pid = int(os.path.basename(path))
        return Entry(pid, str(fields["control_socket"]), str(fields["config"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    import psutil  # only when reading entries: the master, which only writes its own, never loads it

    # A pid reused by another process still passes: the socket check decides then.
    return bool(psutil.pid_exists(pid))


def _accepts(path: str) -> bool:
    """False only when nothing listens there; a master too busy to accept in time is still alive."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            sock.connect(path)
        except TimeoutError:
            return True  # its backlog is full: listening, and its entry must stay
        except OSError:
            return False
    return True
