"""Limits a running master meets as it scales: the status table has room to grow and names `serve upgrade` at its
true limit; a fork the kernel refuses is the master's own want, retried soon, never an app's crash."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
from master_support import (
    Master,
    app_table,
    free_port,
    ready_line,
    serve_command as serve,
    serve_up,
    server_table,
    write_config,
)
from support import ROOT, ServeProcess, serve_status

pytestmark = pytest.mark.system

# The master's forks fail with EAGAIN (as at RLIMIT_NPROC) while the file named by FAIL_FORKS exists.
FAILING_FORKS = """
import errno, os, sys
from supervisor.master import child

real = child.fork_with_pipe
def refused(**options):
    if os.path.exists(os.environ["FAIL_FORKS"]):
        raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
    return real(**options)
child.fork_with_pipe = refused
from supervisor.cli import main
sys.argv = ["serve", *sys.argv[1:]]
main()
"""


def test_one_app_can_grow_well_past_four_times_its_count_and_the_true_limit_names_serve_upgrade(
    tmp_path: Path,
) -> None:
    port = free_port()
    with serve_up(tmp_path, server_table() + app_table("api", bind=[f"127.0.0.1:{port}"], workers=1), {"api": 1}) as m:
        grown = serve("scale", "api", "17", config=m.config)  # the old table (64 slots) held 16 at most
        assert grown.returncode == 0, grown
        assert serve("scale", "api", "1", config=m.config).returncode == 0
        refused = serve("scale", "api", "129", config=m.config)
        assert refused.returncode == 1, refused
        assert "api: at most 128 workers fit this master's 512 worker slots" in refused.stderr, refused.stderr
        assert "set workers = 129 in the file and run `serve upgrade`" in refused.stderr, refused.stderr
        assert "restart" not in refused.stderr
        m.config.write_text(server_table() + app_table("api", bind=[f"127.0.0.1:{port}"], workers=129))
        reloaded = serve("reload", config=m.config)
        assert reloaded.returncode == 1, reloaded
        assert "api: workers = 129 does not fit this master's 512 worker slots (at most 128" in reloaded.stderr
        assert "run `serve upgrade` to run more" in reloaded.stderr, reloaded.stderr
        deadline = time.monotonic() + 15
        while len((app := serve_status(m.config)["apps"][0])["workers"]) != 1 or app["workers_ready"] != 1:
            assert time.monotonic() < deadline, app
            time.sleep(0.2)
        assert (app["workers_desired"], app["generation"], app["restarts"]) == (1, 1, 0), app
        assert m.stop() == 0, m.output


@pytest.mark.timeout(40)
def test_forks_the_kernel_refuses_are_retried_soon_without_crash_loop_or_restarts(tmp_path: Path) -> None:
    port = free_port()
    blocked = tmp_path / "fail-forks"
    blocked.touch()
    config = write_config(tmp_path, server_table() + app_table("api", bind=[f"127.0.0.1:{port}"], workers=3))
    process = ServeProcess(
        [],
        command=[sys.executable, "-c", FAILING_FORKS, "up", "-c", str(config), "--no-tui"],
        cwd=ROOT,
        env={"FAIL_FORKS": str(blocked), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    master = Master(process, config)
    try:
        told = r"api: could not start a worker: \[Errno 11\] Resource temporarily unavailable; next try in "
        master.wait_for_line(told + "1 s", timeout=10)
        master.wait_for_line(told + "2 s", timeout=10)  # a second later: one line a turn, whatever failed in it
        status = serve_status(config)
        (app,) = status["apps"]
        assert app["state"] != "crashloop", app
        assert app["restarts"] == 0, app
        assert app["last_error"] == "could not start a worker: [Errno 11] Resource temporarily unavailable", app
        assert not [e for e in status["events"] if e["kind"] == "crash"], status["events"]
        mark = master.mark()
        blocked.unlink()
        started = time.monotonic()
        master.wait_for_line(ready_line("api", 3), start=mark, timeout=15)
        assert time.monotonic() - started < 8  # the wait never grows past 4 s
        lines = [line for line in master.lines if "could not start" in line]
        waits = [re.sub(r".*next try in ", "", line) for line in lines]
        assert waits[:2] == ["1 s", "2 s"], lines
        assert not [line for line in master.lines if "crash loop" in line or "next start in" in line], master.output
        (app,) = serve_status(config)["apps"]
        assert (app["restarts"], app["state"], app["last_error"]) == (0, "running", None), app
        assert master.stop() == 0, master.output
    finally:
        if process.proc.poll() is None:
            process.stop()
