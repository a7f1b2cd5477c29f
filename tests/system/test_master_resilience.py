"""The master's loop survives its own failures: a handler or a loop step that raises is logged, recorded as a
`master_error` event, and supervision goes on (every app keeps serving, every command keeps answering).

The faults are real exceptions raised inside a real master: a small launcher wraps two of the
arbiter's methods so they raise, then runs `serve up` as the console script does.
"""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

import pytest
from master_support import Master, app_table, free_port, get, serve_up, server_table, write_config
from support import ROOT, ServeProcess, serve_status

pytestmark = pytest.mark.system

# /readyz raises on every probe (a handler of the health endpoint), and the loop's observe step
# raises on its third turn (a step of the loop itself).
LAUNCHER = """
import sys
from supervisor.master import arbiter

def broken_readyz(self):
    raise RuntimeError("injected: /readyz handler fails")

arbiter.Arbiter._readyz = broken_readyz
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
            assert code == 0, master.output()


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
