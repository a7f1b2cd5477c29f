"""The `serve` command line: the only module that prints errors for humans and chooses the exit status."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from collections.abc import Sequence
from typing import Any

import click

from supervisor import __version__
from supervisor.client import DEFAULT_TIMEOUT_S, RELOAD_TIMEOUT_S, ask
from supervisor.config.dump import dump_toml
from supervisor.config.loader import load_file
from supervisor.config.options import ENVVAR_PREFIX, Config, run_params
from supervisor.config.peek import control_target
from supervisor.control import Command, Reload, Reply, Scale, Status, Stop
from supervisor.errors import SupervisorError
from supervisor.logs import LOG_LEVELS
from supervisor.status.snapshot import Snapshot
from supervisor.tui.text import describe


def version_line() -> str:
    """serve's version, with the Python and the optional speed-ups it runs with."""
    parts = [f"{platform.python_implementation()} {platform.python_version()}"]
    for name in ("uvloop", "httptools"):
        try:
            parts.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} not installed")
    return f"serve {__version__} ({', '.join(parts)}) on {platform.system()}"


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
            click.echo(str(err), err=True)
            ctx.exit(err.exit_code)


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


@serve.command("check")
@config_file_option
def check(config_path: str) -> None:
    """Validate a TOML file and print it as serve reads it, every default filled in.

    Exits with status 1, listing every problem as FILE:LINE: key: message, if the file is invalid.
    """
    click.echo(dump_toml(load_file(config_path)), nl=False)


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
    TTIN/TTOU add or remove a worker of every app, USR1 reopens log files.
    Dashboard keys: q stop (gracefully), r reload every app, R reload the selected app, x restart
    the selected worker (each asks y/n), up/down select an app or worker, +/- one worker
    more/less, l log level, a every app's logs, p pause, PgUp/PgDn scroll, ? every key.
    """
    ctx = click.get_current_context()
    serve_file = load_file(config_path)
    from supervisor import logs
    from supervisor.master.arbiter import run_master

    logs.configure_logging(
        log_config=None, log_level=log_level or serve_file.server.log_level, use_colors=None, access_log=False
    )
    from supervisor.master.output import PlainLog, RecentHandler

    if not _wants_dashboard(tui, serve_file.server.tui):
        # Worker lines and the master's own share one non-blocking stderr: a reader that stops
        # reading costs dropped, counted lines, never a stalled master.
        sink = PlainLog(to_stream=True)
        try:
            with logs.stderr_diverted(sink.master_line):
                code = run_master(serve_file, sink=sink)
        finally:
            sink.close()
        ctx.exit(code)
    from supervisor.tui.screen import Screen

    sink = PlainLog(to_stream=False)
    logs.send_to(RecentHandler(sink))  # the master's own lines go to the log pane, not over the screen
    try:
        with Screen() as screen:
            code = run_master(serve_file, display=screen, sink=sink)
    finally:
        sink.close()
        # The dashboard leaves the screen as it found it: show how the run ended.
        click.echo("\n".join(list(sink.recent)[-LAST_LINES_SHOWN:]), err=True)
    ctx.exit(code)


LAST_LINES_SHOWN = 20


def _wants_dashboard(flag: bool | None, setting: str) -> bool:
    if flag is not None:
        return flag
    if setting != "auto":
        return setting == "on"
    return sys.stdout.isatty() and sys.stdin.isatty()


@serve.command("top")
@config_file_option
def top(config_path: str) -> None:
    """The live dashboard of a running master (q leaves the dashboard; the master keeps running)."""
    from supervisor.tui.top import watch

    watch(control_target(config_path))


def _ask(config_path: str, command: Command, *, timeout: float = DEFAULT_TIMEOUT_S) -> Reply:
    """Send `command` to the master of `config_path`; a refused command becomes a ControlError.

    The file is not validated here: an operator halfway through an edit must still reach the
    master, and a reload is judged by the master, which re-reads the file and says what is wrong.
    """
    return ask(control_target(config_path), command, timeout=timeout)


@serve.command("status")
@config_file_option
@click.option("--json", "as_json", is_flag=True, help="Print the status snapshot as JSON (see docs/status.md).")
def status(config_path: str, as_json: bool) -> None:
    """Print one snapshot of every app and worker of the running master."""
    snapshot = Snapshot.from_dict(_ask(config_path, Status()).result)
    click.echo(snapshot.to_json(indent=2) if as_json else describe(snapshot))


@serve.command("reload")
@config_file_option
@click.argument("app", required=False)
def reload_(config_path: str, app: str | None) -> None:
    """Reload the file and roll APP (every app if omitted) to a new generation, as SIGHUP does.

    Waits until the new generation is ready, then says so; exits 1 with the reason if the
    file is invalid or the new generation could not start (the old one keeps serving).
    """
    result = _ask(config_path, Reload(app), timeout=RELOAD_TIMEOUT_S).result
    answer = result if isinstance(result, dict) else {}
    generations = answer.get("generations") or {}
    click.echo("reloaded: " + ", ".join(f"{name} generation {gen} ready" for name, gen in generations.items()))
    for name in answer.get("restart_needed") or ():
        click.echo(f"note: [server] {name} changed; the running master keeps the old value until it restarts", err=True)


@serve.command("scale")
@config_file_option
@click.argument("app")
@click.argument("workers", type=click.IntRange(min=1))
def scale(config_path: str, app: str, workers: int) -> None:
    """Run WORKERS workers for APP from now on (until the next change or restart)."""
    _ask(config_path, Scale(app, workers))
    click.echo(f"{app}: scaling to {workers} worker{'s' if workers != 1 else ''}")


@serve.command("stop")
@config_file_option
@click.option("--now", is_flag=True, help="Stop at once (as SIGQUIT) instead of draining (as SIGTERM).")
def stop(config_path: str, now: bool) -> None:
    """Stop the running master: every worker drains first, unless --now."""
    _ask(config_path, Stop(now=now))
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
