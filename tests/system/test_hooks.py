"""Hooks under real `serve up` masters: [server.hooks] in the master, [apps.NAME.hooks] in each worker.

The hooks are tests/apps/hook_probe.py's: each leaves a JSON file in $HOOK_PROBE_DIR saying what
it was told, so the tests read what ran where; `fail` raises. The master imports its hooks from
PYTHONPATH, the workers theirs from the app's app_dir (tests/apps), as they import the app.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from master_support import (
    READY_TIMEOUT_S,
    Master,
    app_table,
    free_port,
    get,
    ready_line,
    serve_command as serve,
    start_master,
    write_config,
)
from support import APPS_DIR, ServeProcess, serve_status

pytestmark = pytest.mark.system

WAIT_S = 15.0


def hooks_table(section: str, **hooks: str) -> str:
    return f"[{section}.hooks]\n" + "".join(f'{hook} = "hook_probe:{function}"\n' for hook, function in hooks.items())


def server_table(**hooks: str) -> str:
    text = "[server]\nhealthcheck_timeout = 2\ngraceful_timeout = 3\nstartup_timeout = 10\n"
    return text + (hooks_table("server", **hooks) if hooks else "")


@contextmanager
def master_with_probe(directory: Path, text: str) -> Iterator[tuple[Master, Path]]:
    """`serve up` of `text` with HOOK_PROBE_DIR set; stopped afterwards if the test did not."""
    probe = directory / "probe"
    probe.mkdir()
    master = start_master(
        write_config(directory, text), env={"HOOK_PROBE_DIR": str(probe), "PYTHONPATH": str(APPS_DIR)}
    )
    try:
        yield master, probe
    finally:
        if master.process.proc.poll() is None:
            master.stop()


def read_probe(probe: Path, prefix: str) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(probe.glob(f"{prefix}*"))]


def wait_for(check: Any, what: str, timeout: float = WAIT_S) -> Any:
    """Poll `check()` (a status read, a file) until it gives something true."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.1)  # a file a hook writes, or the master's status: nothing to wait on but polling
    return found


def app_row(config: Path, name: str) -> dict[str, Any]:
    return next(app for app in serve_status(config)["apps"] if app["name"] == name)


def test_post_fork_when_ready_and_worker_exit_run_where_and_when_they_should(tmp_path: Path) -> None:
    port = free_port()
    text = server_table(when_ready="when_ready", on_reload="on_reload")
    text += app_table("api", bind=[f"127.0.0.1:{port}"], workers=3)
    text += hooks_table("apps.api", post_fork="post_fork", worker_exit="worker_exit")
    with master_with_probe(tmp_path, text) as (master, probe):
        master.wait_ready({"api": 3})
        workers = {worker["pid"]: worker["index"] for worker in app_row(master.config, "api")["workers"]}
        forked = read_probe(probe, "post_fork-")
        # One post_fork per worker, in that worker, told its own index, before the app was imported.
        assert {told["getpid"]: told["worker"] for told in forked} == workers
        assert sorted(workers.values()) == [0, 1, 2]
        assert all(told["pid"] == told["getpid"] for told in forked)
        assert {(told["app"], told["generation"], told["app_imported"]) for told in forked} == {("api", 1, False)}

        # when_ready: once, in the master, after every worker had run its post_fork.
        (ready,) = wait_for(lambda: (probe / "when_ready").read_text().splitlines(), "when_ready")
        called = json.loads(ready)
        assert (called["pid"], called["app"]) == (master.pid, None)
        assert len(called["post_forks"]) == 3

        # on_reload: in the master, told which apps roll; a reload does not call when_ready again.
        reloaded = serve("reload", config=master.config)
        assert reloaded.returncode == 0, reloaded
        (rolled,) = read_probe(probe, "on_reload-")
        assert (rolled["pid"], rolled["apps"]) == (master.pid, ["api"])
        master.wait_ready({"api": 3}, generation=2)
        assert len((probe / "when_ready").read_text().splitlines()) == 1

        alive = {worker["pid"] for worker in app_row(master.config, "api")["workers"]}
        assert master.stop() == 0, master.output
        # worker_exit: in each worker as it left, the retired generation's and the last one's.
        exited = {told["getpid"]: told for told in read_probe(probe, "worker_exit-")}
        assert set(exited) == set(workers) | alive
        assert all(told["pid"] == pid and told["app"] == "api" for pid, told in exited.items())
        assert {told["generation"] for told in exited.values()} == {1, 2}


def test_a_failing_post_fork_crash_loops_its_app_while_another_app_serves(tmp_path: Path) -> None:
    api, bad = free_port(), free_port()
    text = server_table()
    text += app_table("api", bind=[f"127.0.0.1:{api}"], workers=1)
    text += app_table("bad", bind=[f"127.0.0.1:{bad}"], workers=1) + hooks_table("apps.bad", post_fork="fail")
    with master_with_probe(tmp_path, text) as (master, _):
        master.wait_ready({"api": 1})
        # The worker's traceback is in the log, under the worker's name, with the hook's name.
        master.wait_for_line(r"bad\[\d+\] .*post_fork hook hook_probe:fail failed: RuntimeError: hook says no")
        master.wait_for_line(r'bad\[\d+\] .*raise RuntimeError\("hook says no"\)')
        started = time.monotonic()
        row = wait_for(
            lambda: (row := app_row(master.config, "bad"))["state"] == "crashloop" and row,
            "the app with the failing hook in crashloop",
            timeout=25,
        )
        # Backoff between attempts (0.5, 1, 2, 4 s): a handful of restarts over seconds, never a tight loop.
        assert row["restarts"] <= 6, row
        assert time.monotonic() - started > 3, row
        assert "post_fork hook hook_probe:fail failed: RuntimeError: hook says no" in (row["last_error"] or ""), row
        assert get(("127.0.0.1", api))[1] == "v0"
        assert app_row(master.config, "api")["state"] == "running"
        assert master.stop() == 0, master.output


def test_a_failing_on_starting_stops_startup_with_exit_1_naming_the_hook(tmp_path: Path) -> None:
    port = free_port()
    text = server_table(on_starting="fail") + app_table("api", bind=[f"127.0.0.1:{port}"], workers=1)
    with master_with_probe(tmp_path, text) as (master, _):
        assert master.wait_exit(timeout=READY_TIMEOUT_S) == 1, master.output
        master.wait_for_line(
            r"on_starting hook hook_probe:fail failed: RuntimeError: hook says no \(.*hook_probe\.py:\d+\)"
        )
        master.wait_for_line(r"^Traceback \(most recent call last\)")
        assert "serve running on" not in master.output  # nothing was forked
        with pytest.raises(OSError):
            get(("127.0.0.1", port), timeout=1)  # nothing was bound


def test_a_failing_on_reload_refuses_the_reload_and_the_old_workers_serve(tmp_path: Path) -> None:
    port = free_port()
    text = server_table(on_reload="fail") + app_table("api", bind=[f"127.0.0.1:{port}"], workers=1)
    with master_with_probe(tmp_path, text) as (master, _):
        master.wait_ready({"api": 1})
        before = app_row(master.config, "api")
        reloaded = serve("reload", config=master.config)
        assert reloaded.returncode == 1, reloaded
        assert "on_reload hook hook_probe:fail failed: RuntimeError: hook says no" in reloaded.stderr, reloaded
        master.wait_for_line(r'raise RuntimeError\("hook says no"\)')
        after = app_row(master.config, "api")
        assert after["generation"] == before["generation"] == 1
        assert [w["pid"] for w in after["workers"]] == [w["pid"] for w in before["workers"]]
        assert get(("127.0.0.1", port))[0] == before["workers"][0]["pid"]
        assert master.stop() == 0, master.output


def test_master_hooks_import_from_the_directory_serve_up_started_in_under_the_console_script(
    tmp_path: Path,
) -> None:
    """The `serve` script puts its bin directory first on sys.path, not the working directory:
    the master adds the directory it started in, as the docs promise."""
    (tmp_path / "hooks_here.py").write_text(
        "import os\n\ndef on_reload(context):\n    open('reloaded', 'w').write(str(os.getpid()))\n"
    )
    port = free_port()
    config = write_config(
        tmp_path,
        '[server]\nstartup_timeout = 10\ngraceful_timeout = 3\n[server.hooks]\non_reload = "hooks_here:on_reload"\n'
        + app_table("web", bind=[f"127.0.0.1:{port}"], workers=1),
    )
    script = Path(sys.executable).parent / "serve"
    process = ServeProcess([], command=[str(script), "up", "-c", "serve.toml", "--no-tui"], cwd=tmp_path)
    try:
        process.wait_for_line(ready_line("web", 1), READY_TIMEOUT_S)
        reloaded = serve("reload", config=config)
        assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr + process.output
        assert (tmp_path / "reloaded").read_text() == str(process.proc.pid)
    finally:
        assert process.stop() == 0, process.output
