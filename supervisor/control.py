"""The commands a running master obeys, whether they come from a signal, the control socket or a key.

No I/O: this module defines the `Command` types, maps signals to them, and encodes the control
socket's messages; the master and the client move the bytes.

A SIGHUP, `serve reload` and the dashboard's r key all become `Reload()`, handled by one
arbiter method; likewise scale and stop.

Control socket wire format: JSON lines, UTF-8, one request and one reply per line.

    request:  {"command": "reload", "app": null}
              {"command": "scale", "app": "api", "workers": 4}
              {"command": "scale_by", "delta": 1, "app": null}
              {"command": "stop", "now": false}
              {"command": "reopen_logs"}
              {"command": "status"}
              {"command": "restart", "app": "api", "pid": 4312}
              {"command": "logs", "lines": 200, "app": null, "after": null}
              {"command": "upgrade"}
    reply:    {"ok": true, "error": null, "result": ...}     (result: JSON; a snapshot for status,
                                                              a LogsAnswer for logs)
              {"ok": false, "error": "no app named 'apii'", "result": null}

Arguments with a default (every "app" but scale's and restart's, "delta"'s app, "now",
"lines", "after") may be left out.

`logs` answers with output lines the master kept (master/logring.py), each with its app
("master" for the master's own), pid and a sequence number, oldest first: the newest ones
(`serve logs`, `serve top`'s log pane), or those after a cursor (`serve logs -f`, which
polls). They are kept out of the status snapshot so that `serve status --json` stays small;
an answer holds at most LOG_REPLY_CHARS of lines, well under `MAX_LINE_BYTES`.

    result:   {"lines": [{"seq": 41, "app": "api", "pid": 4312, "text": "..."}, ...],
               "cursor": 57, "more": false, "gap": false, "epoch": "9f2c41d07a3b6e58"}

A cursor means something only to the master that gave it: "epoch", drawn when a master starts,
tells a follower that another master answers now (`serve upgrade`, a restart), whose numbers
start again; the follower then reads that master's lines from its first.
"""

from __future__ import annotations

import dataclasses
import json
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

MAX_LINE_BYTES = 1 << 20  # a reply carries a whole status snapshot; a request is a few dozen bytes


@dataclass(frozen=True, slots=True)
class Reload:
    """Reload the configuration and start a new generation of `app` (every app when None)."""

    app: str | None = None


@dataclass(frozen=True, slots=True)
class Scale:
    """Run `workers` workers for `app`."""

    app: str
    workers: int


@dataclass(frozen=True, slots=True)
class ScaleBy:
    """Change the worker count of `app` (every app when None) by `delta`, never below one."""

    delta: int
    app: str | None = None


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop the master: draining every worker first, or at once when `now`."""

    now: bool = False


@dataclass(frozen=True, slots=True)
class ReopenLogs:
    """Reopen every log file (after logrotate moved them)."""


@dataclass(frozen=True, slots=True)
class Status:
    """Answer with a status snapshot."""


@dataclass(frozen=True, slots=True)
class Restart:
    """Replace worker `pid` of `app` with a fresh one: the replacement first, then the worker drains."""

    app: str
    pid: int


@dataclass(frozen=True, slots=True)
class Upgrade:
    """Start a new master from the installed serve on the same sockets; once it serves, this one drains and exits.

    Answered when the new master is ready (result: {"pid": NEW_PID}) or has failed (the error says why)."""


LOG_LINES_MOST = 1000  # lines in one `logs` answer; the master keeps as many per app (master/logring.py)
LOG_LINE_CHARS = 2000  # a longer line is cut: the pane shows one screen row of it anyway
LOG_REPLY_CHARS = 256 * 1024  # JSON text of the lines at most; the reply has its own limit
LOG_MASTER = "master"  # the `app` of the master's own lines


@dataclass(frozen=True, slots=True)
class Logs:
    """Answer with the output lines the master kept of `app` (every app when None), oldest first:
    its newest `lines`, or, given `after` (the cursor of an earlier answer), the oldest `lines` after it."""

    lines: int = 200
    app: str | None = None
    after: int | None = None


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line the master kept: `seq` numbers every kept line, of every app, in arrival order."""

    seq: int
    app: str  # LOG_MASTER for the master's own
    pid: int
    text: str

    def prefixed(self) -> str:
        """As the master prints it: `app[pid] text`, `serve[pid] text` for its own."""
        return f"{'serve' if self.app == LOG_MASTER else self.app}[{self.pid}] {self.text}"


@dataclass(frozen=True, slots=True)
class LogsAnswer:
    """The result of `logs`.

    Attributes:
        lines: oldest first, each cut to LOG_LINE_CHARS, together at most LOG_REPLY_CHARS of JSON.
        cursor: `after` for the next request, to get only lines that came since.
        more: lines after these were left out (a limit): ask again at once.
        gap: lines after `after` are gone from the master's rings: a follower fell behind.
        epoch: the answering master's, drawn when it started: another epoch, another master,
            whose cursors count from its own start ("" from a master older than epochs).
    """

    lines: tuple[LogLine, ...]
    cursor: int
    more: bool = False
    gap: bool = False
    epoch: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "lines": [dataclasses.asdict(line) for line in self.lines],
            "cursor": self.cursor,
            "more": self.more,
            "gap": self.gap,
            "epoch": self.epoch,
        }

    @classmethod
    def from_dict(cls, result: object) -> LogsAnswer:
        """The answer in a reply's result.

        Raises:
            MessageError: the result is not shaped like one (a master older than `serve logs`
                answers with a plain list).
        """
        if not isinstance(result, dict) or not isinstance(result.get("lines"), list):
            raise MessageError(f"logs: expected an object with lines, got {json.dumps(result)[:40]}")
        cursor = result.get("cursor")
        if type(cursor) is not int:
            raise MessageError(f"logs: cursor must be an integer, got {json.dumps(cursor)}")
        try:
            lines = tuple(_log_line(item) for item in result["lines"])
        except (TypeError, ValueError) as error:
            raise MessageError(f"logs: {error}") from None
        epoch = result.get("epoch")
        return cls(
            lines,
            cursor,
            more=result.get("more") is True,
            gap=result.get("gap") is True,
            epoch=epoch if isinstance(epoch, str) else "",
        )


def _log_line(item: object) -> LogLine:
    if not isinstance(item, dict):
        raise TypeError(f"a line must be an object, got {json.dumps(item)[:40]}")
    seq, app, pid, text = item.get("seq"), item.get("app"), item.get("pid"), item.get("text")
    if type(seq) is not int or type(pid) is not int or not isinstance(app, str) or not isinstance(text, str):
        raise ValueError(f"a line needs seq, app, pid and text, got {json.dumps(item)[:80]}")
    return LogLine(seq, app, pid, text)


Command: TypeAlias = Reload | Scale | ScaleBy | Stop | ReopenLogs | Status | Restart | Logs | Upgrade

_NAMES: dict[type[Command], str] = {
    Reload: "reload",
    Scale: "scale",
    ScaleBy: "scale_by",
    Stop: "stop",
    ReopenLogs: "reopen_logs",
    Status: "status",
    Restart: "restart",
    Logs: "logs",
    Upgrade: "upgrade",
}
_TYPES: dict[str, type[Command]] = {name: kind for kind, name in _NAMES.items()}


class MessageError(ValueError):
    """A control-socket line that is not a valid request or reply; the message says what is wrong."""


# SIGINT depends on what came before; SIGCHLD only wakes the loop, which reaps on every turn.
_SIGNAL_COMMANDS: dict[int, Command] = {
    signal.SIGHUP: Reload(),
    signal.SIGTERM: Stop(now=False),
    signal.SIGQUIT: Stop(now=True),
    signal.SIGTTIN: ScaleBy(+1),
    signal.SIGTTOU: ScaleBy(-1),
    signal.SIGUSR1: ReopenLogs(),
    signal.SIGUSR2: Upgrade(),
}


def signal_to_command(signum: int, *, second_interrupt: bool = False) -> Command | None:
    """The command a signal to the master means (SPEC §3).

    Args:
        signum: the signal received.
        second_interrupt: an INT arrived before, while the master was already stopping
            (Ctrl-C twice): this one means "stop now".

    Returns:
        None for SIGCHLD (the master reaps on every turn anyway) and for signals it does not handle.
    """
    if signum == signal.SIGINT:
        return Stop(now=second_interrupt)
    return _SIGNAL_COMMANDS.get(signum)


def encode_request(command: Command) -> bytes:
    """One request line for the control socket."""
    message = {"command": _NAMES[type(command)], **dataclasses.asdict(command)}
    return _line(message)


def decode_request(line: bytes | str) -> Command:
    """The command a control-socket request line asks for.

    Raises:
        MessageError: not JSON, not an object, an unknown command, or a missing, unknown or
            ill-typed argument.
    """
    message = _object(line, "request")
    name = message.pop("command", None)
    if not isinstance(name, str) or name not in _TYPES:
        known = ", ".join(_TYPES)
        raise MessageError(f"request: unknown command {json.dumps(name)}; expected one of {known}")
    kind = _TYPES[name]
    arguments: dict[str, Any] = {}  # each value checked by _check
    for item in dataclasses.fields(kind):
        if item.name in message:
            arguments[item.name] = _check(name, item.name, message.pop(item.name), optional=item.default is None)
        elif item.default is dataclasses.MISSING:
            raise MessageError(f"request: {name}: missing argument {item.name!r}")
    if message:
        raise MessageError(f"request: {name}: unknown argument {next(iter(message))!r}")
    return kind(**arguments)


def _check(command: str, argument: str, value: object, *, optional: bool) -> object:
    if value is None and optional:
        return value
    description, accepts = _ARGUMENTS[argument]
    if not accepts(value):
        raise MessageError(f"request: {command}: {argument} must be {description}, got {json.dumps(value)}")
    return value


# `type(value) is int` because JSON's true and false arrive as bool, a subclass of int.
_ARGUMENTS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "app": ("an app name", lambda value: isinstance(value, str) and value != ""),
    "workers": ("a positive integer", lambda value: type(value) is int and value >= 1),
    "delta": ("a non-zero integer", lambda value: type(value) is int and value != 0),
    "now": ("true or false", lambda value: isinstance(value, bool)),
    "pid": ("a process id", lambda value: type(value) is int and value >= 1),
    "lines": (
        f"an integer from 1 to {LOG_LINES_MOST}",
        lambda value: type(value) is int and 1 <= value <= LOG_LINES_MOST,
    ),
    "after": ("a cursor (an integer, 0 or more)", lambda value: type(value) is int and value >= 0),
}


@dataclass(frozen=True, slots=True)
class Reply:
    """The master's answer to one request: `result` when `ok`, else `error` says why."""

    ok: bool
    error: str | None = None
    result: object = None

    @classmethod
    def success(cls, result: object = None) -> Reply:
        return cls(ok=True, error=None, result=result)

    @classmethod
    def failure(cls, error: str) -> Reply:
        return cls(ok=False, error=error, result=None)


def encode_reply(reply: Reply) -> bytes:
    """One reply line for the control socket.

    Raises:
        TypeError: the result is not made of JSON values.
    """
    return _line({"ok": reply.ok, "error": reply.error, "result": reply.result})


def decode_reply(line: bytes | str) -> Reply:
    """A reply line read back by the client.

    Raises:
        MessageError: not JSON, or not shaped like a reply.
    """
    message = _object(line, "reply")
    ok, error = message.get("ok"), message.get("error")
    if not isinstance(ok, bool):
        raise MessageError(f"reply: ok must be true or false, got {json.dumps(ok)}")
    if error is not None and not isinstance(error, str):
        raise MessageError(f"reply: error must be a string or null, got {json.dumps(error)}")
    if not ok and error is None:
        raise MessageError("reply: a failed reply must say why (error is null)")
    return Reply(ok=ok, error=error, result=message.get("result"))


def _line(message: dict[str, object]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _object(line: bytes | str, what: str) -> dict[str, object]:
    if len(line) > MAX_LINE_BYTES:
        raise MessageError(f"{what}: longer than {MAX_LINE_BYTES} bytes")
    try:
        message = json.loads(line)
    except ValueError as error:  # UnicodeDecodeError is a ValueError too
        raise MessageError(f"{what}: not JSON: {error}") from None
    except RecursionError:  # nested deeper than the parser goes: no command is
        raise MessageError(f"{what}: nested too deeply") from None
    if not isinstance(message, dict):
        raise MessageError(f"{what}: expected a JSON object, got {json.dumps(message)[:40]}")
    return message
