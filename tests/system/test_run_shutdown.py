"""Stopping `serve run` with real signals: in-flight requests finish, idle ones go, lifespan shutdown runs last."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from apps.system_apps import HOLD_BODY_BYTES
from support import exchange, hold_request, read_response, serve_run, split_responses, wait_closed

pytestmark = pytest.mark.system

DRAINING = r"Waiting for \d+ connection\(s\) to finish"
FOREVER = b"GET /forever HTTP/1.1\r\nHost: system-test\r\n\r\n"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_lets_the_request_in_flight_finish(release_file: Path, sig: signal.Signals) -> None:
    with serve_run("system_apps:app") as server, ThreadPoolExecutor(1) as pool:
        held = pool.submit(exchange, server.host, server.port, hold_request(release_file))
        server.wait_for_line("system_apps: hold started")
        server.send_signal(sig)
        server.wait_for_line(DRAINING)
        release_file.touch()
        [(status, headers, body)] = split_responses(held.result(timeout=15))
        assert server.wait_exit(15) == 0
    assert status == 200
    assert body == b"".join((b"%d" % index) * (HOLD_BODY_BYTES // 4) for index in range(4))  # all four chunks
    # Asked for keep-alive, but the server is stopping: it says so and closes after this response.
    assert headers["connection"] == "close"
    lines = server.lines
    answered = next(i for i, line in enumerate(lines) if '"GET /hold?' in line)
    assert lines.index("system_apps: lifespan shutdown") > answered


def test_new_connections_are_refused_once_stopping(release_file: Path) -> None:
    with serve_run("system_apps:app") as server, ThreadPoolExecutor(1) as pool:
        held = pool.submit(exchange, server.host, server.port, hold_request(release_file))
        server.wait_for_line("system_apps: hold started")
        server.send_signal(signal.SIGTERM)
        server.wait_for_line(DRAINING)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((server.host, server.port), timeout=5).close()
        release_file.touch()
        assert split_responses(held.result(timeout=15))[0][0] == 200
        assert server.wait_exit(15) == 0


def test_idle_keep_alive_connection_is_closed_during_the_drain(release_file: Path) -> None:
    with (
        serve_run("system_apps:app") as server,
        ThreadPoolExecutor(1) as pool,
        socket.create_connection((server.host, server.port), timeout=10) as idle,
    ):
        idle.sendall(b"GET / HTTP/1.1\r\nHost: system-test\r\n\r\n")
        assert read_response(idle)[0] == 200
        held = pool.submit(exchange, server.host, server.port, hold_request(release_file))
        server.wait_for_line("system_apps: hold started")
        server.send_signal(signal.SIGTERM)
        assert wait_closed(idle, timeout=10) == b""
        assert not held.done()  # closed while the drain was still waiting for the held request
        release_file.touch()
        assert split_responses(held.result(timeout=15))[0][0] == 200
        assert server.wait_exit(15) == 0


def test_keep_alive_request_arriving_during_the_drain_is_served_then_closed(release_file: Path) -> None:
    with (
        serve_run("system_apps:app") as server,
        ThreadPoolExecutor(1) as pool,
        socket.create_connection((server.host, server.port), timeout=10) as client,
    ):
        held = pool.submit(exchange, server.host, server.port, hold_request(release_file))
        server.wait_for_line("system_apps: hold started")
        client.sendall(b"GET /first HTTP/1.1\r\nHost: system-test\r\n\r\n")
        assert read_response(client)[1].get("connection") is None
        server.send_signal(signal.SIGTERM)
        server.wait_for_line(DRAINING)
        # Sent well inside the drain grace on a connection the client still believes open.
        client.sendall(b"GET /second HTTP/1.1\r\nHost: system-test\r\n\r\n")
        status, headers, body = read_response(client)
        assert (status, headers["connection"], body) == (200, "close", b"hello")
        assert wait_closed(client) == b""
        release_file.touch()
        assert split_responses(held.result(timeout=15))[0][0] == 200
        assert server.wait_exit(15) == 0


def test_graceful_timeout_cancels_a_request_that_never_finishes() -> None:
    with serve_run("system_apps:app", "--timeout-graceful-shutdown", "1") as server, ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(exchange, server.host, server.port, FOREVER)
        server.wait_for_line("system_apps: forever started")
        stopping = time.monotonic()
        code = server.stop(signal.SIGTERM, timeout=15)
        took = time.monotonic() - stopping
        # Its response had not begun: answered 500 and closed, as uvicorn does, not cut without a word.
        [(status, headers, _)] = split_responses(stuck.result(timeout=5))
    assert code == 0
    assert took < 8
    assert (status, headers["connection"]) == (500, "close")
    output = server.output
    assert "Graceful shutdown timed out: cancelling 1 request(s)." in output
    assert '"GET /forever HTTP/1.1" 500' in output  # and its access line written
    assert "system_apps: forever cancelled" in output
    assert "system_apps: lifespan shutdown" in output


def test_second_sigint_forces_exit() -> None:
    with serve_run("system_apps:app") as server, ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(exchange, server.host, server.port, FOREVER)
        server.wait_for_line("system_apps: forever started")
        server.send_signal(signal.SIGINT)
        server.wait_for_line(DRAINING)
        # With no graceful timeout the first SIGINT waits for the request however long it takes.
        assert keeps_running(server.proc, 0.5)
        code = server.stop(signal.SIGINT, timeout=10)
        assert stuck.result(timeout=5) == b""
    assert code == 0
    assert "system_apps: forever cancelled" in server.output


def keeps_running(process: subprocess.Popen[str], seconds: float) -> bool:
    """Whether the `serve` process is still running after `seconds` (a deliberate wait)."""
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        return True
    return False
