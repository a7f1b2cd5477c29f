"""The `serve` command line: the only module that prints errors for humans and chooses the exit status."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from typing import Any

import click

import supervisor
from supervisor.client import DEFAULT_TIMEOUT_S, RELOAD_TIMEOUT_S, ask, find_target
from supervisor.config.dump import dump_toml
from supervisor.config.loader import load_file
from supervisor.config.options import ENVVAR_PREFIX, Config, run_params
from supervisor.config.peek import ControlTarget
from supervisor.config.schema import ServeFile
from supervisor.control import LOG_LINES_MOST, Command, Reload, Reply, Scale, Status, Stop, Upgrade
from supervisor.errors import BindError, ConfigError, StartupError, SupervisorError
from supervisor.logs import LOG_LEVELS
from supervisor.preflight import IMPORT_TIMEOUT_S


def version_line() -> str:
    """serve's version, with the Python and the optional speed-ups it runs with; then a warning line
    when the import package `supervisor` is not serve's alone (`package_clash`)."""
    import importlib.metadata  # here, not at the top: `serve run` starts faster without it

    parts = [f"{platform.python_implementation()} {platform.python_version()}"]
    for name in ("uvloop", "httptools"):
        try:
            parts.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} not installed")
    line = f"serve {_own_version()} ({', '.join(parts)}) on {platform.system()}"
    clash = package_clash()
    return line + (f"\nwarning: {clash}" if clash else "")


def _own_version() -> str:
    import importlib.metadata

    version = getattr(supervisor, "__version__", None)  # missing when another package's __init__.py is in place
    if isinstance(version, str):
        return version
    try:
        return importlib.metadata.version("serve-supervisor")
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def package_clash() -> str | None:
    """Why the import package `supervisor` may not be serve's alone, or None.

    supervisord's distribution is named `supervisor` and installs the same import package: pip
    writes its `__init__.py` over serve's, and uninstalling either removes files of the other.
    """
    import importlib.metadata

    problems = []
    if not (supervisor.__doc__ or "").startswith("serve:"):
        problems.append(f"{supervisor.__file__} is not serve's (another package replaced it)")
    try:
        other = importlib.metadata.distribution("supervisor")
    except importlib.metadata.PackageNotFoundError:
        other = None
    if other is not None:
        problems.append(
            f"supervisord's package `supervisor` {other.version} is installed in this environment and shares the"
            " import package `supervisor` with serve"
        )
    if not problems:
        return None
    return "; ".join(problems) + ". Install serve in a virtualenv of its own (see README.md, Install)."


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(version_line())
        ctx.exit()


def _version_option() -> click.Option:
    return click.Option(
        ["--version"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_print_version,
        help="Show serve's version and exit.",
    )


class _Commands(click.Group):
    """Renders the SupervisorError a command raises, and exits with the status it implies."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SupervisorError as err:
            from supervisor.master.handover import report_failure

            report_failure(str(err), os.environ)  # a `serve up` started by `serve upgrade`: the old master hears why
            click.echo(_for_terminal(str(err)), err=True)
            ctx.exit(err.exit_code)


def _for_terminal(text: str) -> str:
    """`text` (an error a master or an app wrote, perhaps) with no control character a terminal would obey."""
    from supervisor.tui.formats import terminal_lines  # rich: loaded only when there is something to show

    return "\n".join(terminal_lines(text))


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]}, params=[_version_option()])
def serve() -> None:
    """An ASGI server and process supervisor: several apps from one TOML file, or one app with `serve run`."""


config_file_option = click.option(
    "-c",
    "--config",
    "config_path",
    default="serve.toml",
    show_default=True,
    envvar=f"{ENVVAR_PREFIX}_CONFIG",
    type=click.Path(dir_okay=False),
    help="The TOML file declaring the apps.",
)


def control_options(command: Any) -> Any:
    """-c and --socket for the commands that talk to a running master; neither given: serve.toml here,
    else the one running master of this user (see `find_target`)."""
    command = click.option(
        "--socket",
        "socket_path",
        default=None,
        type=click.Path(dir_okay=False),
        help="The master's control socket: reach it without reading any file.",
    )(command)
    return click.option(
        "-c",
        "--config",
        "config_path",
        default=None,
        envvar=f"{ENVVAR_PREFIX}_CONFIG",
        type=click.Path(dir_okay=False),
        help="The TOML file of the master (read leniently: it may be mid-edit). Default: serve.toml here,"
        " else the one master of yours that is running.",
    )(command)


def _target(config_path: str | None, socket_path: str | None) -> ControlTarget:
    target, note = find_target(config_path, socket_path)
    if note:
        click.echo(note, err=True)
    return target


@serve.command("check")
@config_file_option
@click.option(
    "--import",
    "try_import",
    is_flag=True,
    help="Also import each app (and call its factory) in a child process, as a worker would.",
)
@click.option(
    "--import-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=IMPORT_TIMEOUT_S,
    show_default=True,
    help="Seconds each app's import may take with --import.",
)
def check(config_path: str, try_import: bool, import_timeout: float) -> None:
    """Validate a TOML file and print it as serve reads it, every default filled in.

    Beyond the file itself, checks what `serve up` would trip over: users and groups that do
    not exist, directories of pid_file, log_file and control_socket, addresses that clash once
    names are resolved (the metrics and health endpoints included); with --import, each app.
    Exits with status 1, listing every problem as FILE:LINE: key: message.
    """
    from supervisor import preflight

    if clash := package_clash():
        click.echo(f"warning: {clash}", err=True)
    serve_file = load_file(config_path)
    problems = preflight.check_problems(serve_file)
    if try_import:
        problems += preflight.import_problems(serve_file, timeout=import_timeout)
    if problems:
        raise ConfigError(sorted(problems, key=lambda problem: problem.line or 0))
    click.echo(dump_toml(serve_file), nl=False)


@serve.command("up")
@config_file_option
@click.option(
    "--tui/--no-tui",
    default=None,
    help="Show the live dashboard, or plain log lines. Default: [server] tui (auto: when stdout is a terminal).",
)
@click.option("--log-level", type=click.Choice(sorted(LOG_LEVELS)), default=None, help="Override [server] log_level.")
def up(config_path: str, tui: bool | None, log_level: str | None) -> None:
    """Start the master: bind every app's sockets, fork their workers, and supervise them until stopped.

    Signals: HUP reloads, TERM or INT stops gracefully (INT twice: at once), QUIT stops at once,
    TTIN/TTOU add or remove a worker of every app, USR1 reopens log files, USR2 upgrades serve
    itself (see `serve upgrade`).
    Dashboard keys: q stop (gracefully), r reload every app, R reload the selected app, x restart
    the selected worker (each asks y/n), up/down select an app or worker, +/- one worker
    more/less, l log level, a every app's logs, p pause, PgUp/PgDn scroll, ? every key.
    """
    ctx = click.get_current_context()
    serve_file = load_file(config_path)
    from supervisor import logs, preflight

    if blocked := preflight.startup_problems(serve_file):  # a missing user would crash-loop every worker
        raise StartupError("\n".join(str(problem) for problem in blocked))
    # Two spellings of one address (localhost and 127.0.0.1) both bind, and the losing app's workers
    # crash-loop: refused as `serve check` refuses them, with the same exit code.
    if clashes := list(preflight.bind_problems(serve_file, preflight.FileLines.read(serve_file.path))):
        raise ConfigError(clashes)

    logs.configure_logging(
        log_config=None,
        log_level=log_level or serve_file.server.log_level,
        use_colors=None,
        access_log=False,
        log_format=serve_file.server.log_format,
    )
    from supervisor.master.output import PlainLog, RecentHandler

    if not _wants_dashboard(tui, serve_file.server.tui):
        # Worker lines and the master's own share one non-blocking stderr: a reader that stops
        # reading costs dropped, counted lines, never a stalled master.
        sink = PlainLog(to_stream=True)
        try:
            with logs.stderr_diverted(sink.master_line):
                code = _run_master(serve_file, sink=sink)
        finally:
            sink.close()
        ctx.exit(code)
    from supervisor.tui.screen import Screen

    sink = PlainLog(to_stream=False)
    logs.send_to(RecentHandler(sink))  # the master's own lines go to the log pane, not over the screen
    try:
        with Screen() as screen:
            code = _run_master(serve_file, display=screen, sink=sink)
    finally:
        sink.close()
        # The dashboard leaves the screen as it found it: show how the run ended.
        click.echo("\n".join(list(sink.recent)[-LAST_LINES_SHOWN:]), err=True)
    ctx.exit(code)


LAST_LINES_SHOWN = 20


def _run_master(serve_file: ServeFile, **parts: Any) -> int:
    """run_master, with a bind failure told as the key and line that names the address."""
    from supervisor import preflight
    from supervisor.master.arbiter import run_master

    try:
        return run_master(serve_file, **parts)
    except BindError as error:
        raise BindError(preflight.explain_bind_failure(serve_file, str(error))) from error


def _wants_dashboard(flag: bool | None, setting: str) -> bool:
    if flag is not None:
        return flag
    if setting != "auto":
        return setting == "on"
    return sys.stdout.isatty() and sys.stdin.isatty()


@serve.command("top")
@control_options
def top(config_path: str | None, socket_path: str | None) -> None:
    """The live dashboard of a running master (q leaves the dashboard; the master keeps running)."""
    from supervisor.tui.top import watch

    watch(_target(config_path, socket_path))


@serve.command("logs")
@control_options
@click.argument("app", required=False)
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(1, LOG_LINES_MOST),
    default=100,
    show_default=True,
    help="How many of the latest lines to print.",
)
@click.option("-f", "--follow", is_flag=True, help="Then print new lines as they come, until Ctrl-C.")
def logs_(config_path: str | None, socket_path: str | None, app: str | None, lines: int, follow: bool) -> None:
    """Print the latest output lines the running master kept of APP (every app if omitted; "master" for
    the master's own), oldest first, as `app[pid] text`; with -f, go on printing new ones until Ctrl-C.

    The master keeps the latest 1000 lines of each app. Exits 2 if it runs no app named APP.
    """
    from supervisor.tui.formats import terminal_text
    from supervisor.tui.logtail import show

    def write(line: str) -> None:  # an app's output must not retitle the terminal or write its clipboard
        click.echo(terminal_text(line))

    try:
        show(_target(config_path, socket_path), app, lines, follow=follow, write=write)
    except KeyboardInterrupt:  # Ctrl-C is how -f ends
        pass
    except BrokenPipeError:  # the reader (`| head`) left: so do we, without a traceback
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the interpreter flushes it at exit


def _ask(
    config_path: str | None, command: Command, *, socket_path: str | None = None, timeout: float = DEFAULT_TIMEOUT_S
) -> Reply:
    """Send `command` to the master of `config_path` (or `socket_path`, or the one found running);
    a refused command becomes a ControlError.

    The file is not validated here: an operator halfway through an edit must still reach the
    master, and a reload is judged by the master, which re-reads the file and says what is wrong.
    """
    return ask(_target(config_path, socket_path), command, timeout=timeout)


@serve.command("status")
@control_options
@click.option("--json", "as_json", is_flag=True, help="Print the status snapshot as JSON (see docs/status.md).")
def status(config_path: str | None, socket_path: str | None, as_json: bool) -> None:
    """Print one snapshot of every app and worker of the running master."""
    from supervisor.status.snapshot import Snapshot  # rich, via describe: only `serve status` needs them
    from supervisor.tui.text import describe

    snapshot = Snapshot.from_dict(_ask(config_path, Status(), socket_path=socket_path).result)
    click.echo(snapshot.to_json(indent=2) if as_json else describe(snapshot))


@serve.command("reload")
@control_options
@click.argument("app", required=False)
def reload_(config_path: str | None, socket_path: str | None, app: str | None) -> None:
    """Reload the file and roll APP (every app if omitted) to a new generation, as SIGHUP does.

    Waits until the new generation is ready, then says so; exits 1 with the reason if the
    file is invalid or the new generation could not start (the old one keeps serving).
    """
    from supervisor.tui.formats import terminal_text

    result = _ask(config_path, Reload(app), socket_path=socket_path, timeout=RELOAD_TIMEOUT_S).result
    answer = result if isinstance(result, dict) else {}
    generations = answer.get("generations") or {}
    rolled = terminal_text(", ".join(f"{name} generation {gen} ready" for name, gen in generations.items()))
    click.echo(f"reloaded: {rolled}" if rolled else "reloaded (no app to roll)")
    if removed := [terminal_text(str(name)) for name in answer.get("removed") or ()]:
        click.echo(f"removed: {', '.join(removed)} (its workers drain, then its sockets close)")
    for name in answer.get("restart_needed") or ():
        click.echo(
            f"note: [server] {terminal_text(str(name))} changed; the running master keeps the old value until it restarts",
            err=True,
        )


@serve.command("upgrade")
@control_options
def upgrade(config_path: str | None, socket_path: str | None) -> None:
    """Upgrade serve itself without dropping a connection, as SIGUSR2 does.

    The running master starts a new master from the installed serve (`python -m supervisor up
    --no-tui`, same interpreter and file) and hands it every listening socket and the control
    socket. Once every app of the new master is ready, the old master drains its workers and
    exits; the pid file and `serve status` now name the new master. Exits 1 with the reason if
    the new master could not start (the file is invalid, an app fails): the old master serves on.
    """
    result = _ask(config_path, Upgrade(), socket_path=socket_path, timeout=RELOAD_TIMEOUT_S).result
    pid = result.get("pid") if isinstance(result, dict) else None
    click.echo(f"upgraded: new master {pid} serves every app; the old master drains and exits")


@serve.command("scale")
@control_options
@click.argument("app")
@click.argument("workers", type=click.IntRange(min=1))
def scale(config_path: str | None, socket_path: str | None, app: str, workers: int) -> None:
    """Run WORKERS workers for APP from now on: a reload keeps them unless it finds the file's `workers`
    for APP changed (then the file's count runs); a restart or upgrade starts from the file."""
    _ask(config_path, Scale(app, workers), socket_path=socket_path)
    click.echo(f"{app}: scaling to {workers} worker{'s' if workers != 1 else ''}")


@serve.command("stop")
@control_options
@click.option("--now", is_flag=True, help="Stop at once (as SIGQUIT) instead of draining (as SIGTERM).")
def stop(config_path: str | None, socket_path: str | None, now: bool) -> None:
    """Stop the running master: every worker drains first, unless --now."""
    _ask(config_path, Stop(now=now), socket_path=socket_path)
    click.echo("stopping" + (" now" if now else ": draining"))


def _run(**values: Any) -> None:
    ctx = click.get_current_context()
    if values.get("env_file"):
        from supervisor.asgi.environment import apply_environment  # only when there is a file to read

        # Loaded before Config is built, so WEB_CONCURRENCY and FORWARDED_ALLOW_IPS set in it count, as in uvicorn.
        apply_environment(values["env_file"], {})
    config = Config.from_command_line(values, os.environ)
    from supervisor.api import run_config  # here: `serve check` and `--help` stay light

    ctx.exit(run_config(config))  # several workers or --reload: the master, supervising this one app


serve.add_command(
    click.Command(
        "run",
        callback=_run,
        params=[*run_params(), _version_option()],
        context_settings={"auto_envvar_prefix": ENVVAR_PREFIX},
        short_help="Serve one app, as uvicorn does.",
        help=(
            "Serve one app, as `uvicorn MODULE:APP [OPTIONS]` does: every uvicorn option is accepted with the "
            f"same meaning. Each option can also be set in the environment as {ENVVAR_PREFIX}_<OPTION>, "
            f"for example {ENVVAR_PREFIX}_PORT=8001, and APP as {ENVVAR_PREFIX}_APP."
        ),
    )
)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `serve` console script and of `python -m supervisor`."""
    serve.main(args=None if argv is None else list(argv), prog_name="serve")
