"""Exception types shared by every layer, each carrying the exit code it implies."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_CONFIG = 1
EXIT_STARTUP = 3
# The master stopped on an error of its own (a bug, or the machine refusing it something it
# cannot go on without), not because of the file or an app: sysexits' EX_SOFTWARE.
EXIT_MASTER_FAILED = 70


class SupervisorError(Exception):
    """Base of every error `serve` reports to a human; `cli.py` renders it and exits."""

    exit_code = EXIT_CONFIG


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a configuration, located as precisely as we can."""

    file: str
    line: int | None
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key_path}: {self.message}" if self.key_path else f"{where}: {self.message}"


class ConfigError(SupervisorError):
    """The configuration is invalid; every problem is listed, nothing starts."""

    exit_code = EXIT_CONFIG

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StartupError(SupervisorError):
    """An app could not start: import, bind or lifespan failure."""

    exit_code = EXIT_STARTUP


class AppLoadError(StartupError):
    """`MODULE:ATTR` could not be turned into an ASGI callable."""


class LifespanStartupError(StartupError):
    """The app's lifespan startup failed or raised."""


class BindError(StartupError):
    """An address could not be bound (uvicorn also exits 3 here)."""


class ControlError(SupervisorError):
    """A control-socket client could not reach the master, or the master refused the command."""

    exit_code = EXIT_CONFIG


class ParseError(Exception):
    """The peer sent something we will not serve; `status` is what to answer (400, 408, 431, 501).

    Raised only by `protocol/`; the connection answers it and closes.
    """

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"{status} {reason}")
