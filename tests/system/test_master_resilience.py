"""The master's loop survives its own failures: a handler or a loop step that raises is logged, recorded as a
`master_error` event, and supervision goes on (every app keeps serving, every command keeps answering).

The faults are real exceptions raised inside a real master: a small launcher wraps two of the
arbiter's methods so they raise, then runs `serve up` as the console script does.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from master_support import (
    Master,
    app_table,
    connect,
    free_port,
    get,
    request_bytes,
    serve_command,
    serve_up,
    server_table,
    write_config,
)
from support import ROOT, ServeProcess, read_response, serve_status

pytestmark = pytest.mark.system

# /readyz raises on every probe (a handler of the health endpoint), and the loop's observe step
# raises on its third turn (a step of the loop itself).
LAUNCHER = """
import sys
from supervisor.master import arbiter

def broken_readyz(self):
    raise RuntimeError("injected: /readyz handler fails")

arbiter.Arbiter._readiness = broken_readyz
original_observe = arbiter.Arbiter._observe
turns = {"n": 0}

def observe_failing_once(self, now):
    turns["n"] += 1
    if turns["n"] == 3:
        raise RuntimeError("injected: observe step fails")
    original_observe(self, now)

arbiter.Arbiter._observe = observe_failing_once
from supervisor.cli import main
sys.argv = ["serve", *sys.argv[1:]]
main()
"""


def _probe(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


@pytest.mark.timeout(60)
def test_a_handler_and_a_loop_step_that_raise_leave_the_master_serving(tmp_path: Path) -> None:
    api, health = free_port(), free_port()
    text = (
        server_table()
        + f'health_bind = "127.0.0.1:{health}"\n'
        + app_table("api", bind=[f"127.0.0.1:{api}"], workers=1)
    )
    config = write_config(tmp_path, text)
    process = ServeProcess([], command=[sys.executable, "-c", LAUNCHER, "up", "-c", str(config), "--no-tui"], cwd=ROOT)
    master = Master(process, config)
    try:
        master.wait_ready({"api": 1})
        master.wait_for_line(r"observe\w* step failed; supervision goes on")
        # The failing handler costs its own client only: the connection is closed without an answer.
        assert _probe(health, "/readyz") == b""
        master.wait_for_line(r"handler for .* failed; supervision goes on")
        # Everything else goes on: the other route, the app, the control socket.
        assert b"200 OK" in _probe(health, "/livez")
        get(("127.0.0.1", api))  # raises unless 200
        events = serve_status(config)["events"]
        kinds = [event["kind"] for event in events]
        assert kinds.count("master_error") >= 2, events
        assert process.proc.poll() is None
    finally:
        if process.proc.poll() is None:
            code = master.stop(signal.SIGTERM)
            assert code == 0, master.output


@pytest.mark.timeout(60)
def test_env_file_keeps_the_shells_value_under_serve_up(tmp_path: Path) -> None:
    """One precedence rule in every mode (uvicorn's, and `serve run`'s): the shell wins over env_file."""
    env_file = tmp_path / "app.env"
    env_file.write_text("RESILIENCE_KEPT=from-the-file\nRESILIENCE_NEW=only-in-the-file\n")
    port = free_port()
    text = server_table() + app_table("api", bind=[f"127.0.0.1:{port}"], workers=1, extra=f'env_file = "{env_file}"\n')
    with serve_up(tmp_path, text, {"api": 1}, env={"RESILIENCE_KEPT": "from-the-shell"}):
        assert get(("127.0.0.1", port), "/env?name=RESILIENCE_KEPT")[1] == "from-the-shell"
        assert get(("127.0.0.1", port), "/env?name=RESILIENCE_NEW")[1] == "only-in-the-file"


def _reload(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor", "reload", "-c", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(90)
def test_an_app_put_back_while_it_still_drains_is_refused_until_it_has_stopped(tmp_path: Path) -> None:
    """Removed by one reload, its worker still finishing a request, put back by the next: the old pool
    must see its worker out (or SIGKILL it at graceful_timeout) before a new pool takes the name."""
    api, extra = free_port(), free_port()
    server = server_table(graceful_timeout=20)
    api_table = app_table("api", bind=[f"127.0.0.1:{api}"], workers=1)
    extra_table = app_table("extra", bind=[f"127.0.0.1:{extra}"], workers=1)
    with serve_up(tmp_path, server + api_table + extra_table, {"api": 1, "extra": 1}) as master:
        config = master.config
        with connect(("127.0.0.1", extra)) as slow:
            slow.sendall(request_bytes("/slow?seconds=4", close=True))
            master.wait_for_line(r"\bextra\[\d+\] master_apps: slow started")
            config.write_text(server + api_table)
            removing = _reload(config)
            assert removing.returncode == 0
            assert "removed: extra (its workers drain, then its sockets close)" in removing.stdout
            config.write_text(server + api_table + extra_table)
            refused = _reload(config)
            assert refused.returncode == 1
            assert "extra removed by an earlier reload and still draining" in refused.stderr + refused.stdout
            assert read_response(slow, timeout=15)[0] == 200  # the drained request was answered
        deadline = time.monotonic() + 15
        while any(app["name"] == "extra" for app in serve_status(config)["apps"]):
            assert time.monotonic() < deadline, "extra's old worker never left"
            time.sleep(0.1)
        assert _reload(config).returncode == 0
        get(("127.0.0.1", extra))
        get(("127.0.0.1", api))


@pytest.mark.timeout(60)
def test_a_reload_moves_the_pid_file_and_says_which_server_settings_need_a_restart(tmp_path: Path) -> None:
    port = free_port()
    api_table = app_table("api", bind=[f"127.0.0.1:{port}"], workers=1)
    first = server_table() + 'pid_file = "first.pid"\n' + api_table
    with serve_up(tmp_path, first, {"api": 1}) as master:
        config = master.config
        assert (tmp_path / "first.pid").read_text() == f"{master.pid}\n"
        # A new pid file is taken at once; a new control socket (or metrics_bind, health_bind...)
        # is not: the running master keeps its own and says so.
        config.write_text(server_table() + 'pid_file = "second.pid"\n' + api_table)
        result = _reload(config)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "second.pid").read_text() == f"{master.pid}\n"
        assert not (tmp_path / "first.pid").exists()
        config.write_text(server_table() + 'pid_file = "second.pid"\ncontrol_socket = "elsewhere.sock"\n' + api_table)
        mark = master.mark()
        master.send_signal(signal.SIGHUP)  # `serve reload` would look for the new socket
        master.wait_for_line(r"\[server\] control_socket changed .*takes a restart of the master", start=mark)
        master.wait_ready({"api": 1}, generation=3, start=mark)
        config.write_text(server_table() + 'pid_file = "second.pid"\n' + api_table)
        assert serve_status(config)["master_pid"] == master.pid  # still on its first socket


# The loop itself raises once the apps are up: nothing inside it can contain that.
ESCAPING = """
import sys
from supervisor.master import arbiter

original_decide = arbiter.Arbiter._decide

def decide_then_escape(self, now):
    original_decide(self, now)
    if all(runtime.pool.ready_count for runtime in self.apps.values()) and self.apps:
        raise SystemError("injected: escapes the loop")

def loop_without_containment(self):
    while True:
        now = arbiter.time.monotonic()
        self._observe(now)
        decide_then_escape(self, now)
        self._sleep(now)

arbiter.Arbiter._loop = loop_without_containment
from supervisor.cli import main
sys.argv = ["serve", *sys.argv[1:]]
main()
"""


@pytest.mark.timeout(60)
def test_an_error_escaping_the_loop_drains_the_workers_and_exits_70(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, server_table() + app_table("api", bind=[f"127.0.0.1:{port}"], workers=1))
    process = ServeProcess([], command=[sys.executable, "-c", ESCAPING, "up", "-c", str(config), "--no-tui"], cwd=ROOT)
    master = Master(process, config)
    try:
        assert master.wait_exit(timeout=30) == 70, master.output
        master.wait_for_line(r"The master failed and stops; every worker drains \(exit code 70\)")
        master.wait_for_line(r"\bapi\[\d+\] INFO:\s+Shutting down")  # drained (SIGTERM), not SIGKILLed
    finally:
        if process.proc.poll() is None:
            process.proc.kill()


@pytest.mark.timeout(60)
def test_scale_is_refused_while_the_master_stops(tmp_path: Path) -> None:
    """As a reload is: `serve scale` used to answer "scaling" (exit 0) to a master that would start nothing."""
    api = free_port()
    config_text = server_table(graceful_timeout=20) + app_table("api", bind=[f"127.0.0.1:{api}"], workers=1)
    with serve_up(tmp_path, config_text, {"api": 1}) as master:
        with connect(("127.0.0.1", api)) as slow:
            slow.sendall(request_bytes("/slow?seconds=3", close=True))
            master.wait_for_line(r"\bapi\[\d+\] master_apps: slow started")
            master.send_signal(signal.SIGTERM)
            master.wait_for_line(r"Stopping every app \(gracefully\)")
            refused = serve_command("scale", "api", "3", config=master.config)
            assert refused.returncode == 1, refused.stdout + refused.stderr
            assert "stopping: the workers are not changed" in refused.stderr + refused.stdout
            assert read_response(slow, timeout=15)[0] == 200  # the request in flight was answered
        assert master.wait_exit(20) == 0, master.output
        assert master.output.count("Started server process") == 1, master.output
