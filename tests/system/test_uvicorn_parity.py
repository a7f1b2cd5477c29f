"""`serve run` as a user moving from uvicorn expects it: real processes, loopback sockets.

- Under the master (`--workers N`) without --timeout-graceful-shutdown, a stop waits for the
  requests in flight (no SIGKILL at [server]'s 30 s), and a second Ctrl-C still stops at once.
- `--uds` makes the socket connectable by any local user (0o666), whatever the umask.
- A malformed request is logged as a WARNING, with its reason; `--log-level trace` logs every ASGI message.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from apps.system_apps import HOLD_BODY_BYTES
from support import exchange, hold_request, serve_run, split_responses, wait_closed

pytestmark = pytest.mark.system

DRAINING = r"Waiting for \d+ connection\(s\) to finish"
FOREVER = b"GET /forever HTTP/1.1\r\nHost: system-test\r\n\r\n"


def test_serve_run_workers_without_a_graceful_limit_lets_the_request_in_flight_finish(release_file: Path) -> None:
    with serve_run("system_apps:app", "--workers", "1") as server, ThreadPoolExecutor(1) as pool:
        held = pool.submit(exchange, server.host, server.port, hold_request(release_file, close=True))
        server.wait_for_line("system_apps: hold started")
        server.send_signal(signal.SIGTERM)
        server.wait_for_line(DRAINING)
        release_file.touch()
        [(status, _, body)] = split_responses(held.result(timeout=15))
        assert server.wait_exit(15) == 0
    assert (status, len(body)) == (200, HOLD_BODY_BYTES)
    assert "SIGKILL" not in server.output


def test_serve_run_workers_without_a_graceful_limit_stops_at_once_on_a_second_ctrl_c() -> None:
    with (
        serve_run("system_apps:app", "--workers", "1") as server,
        socket.create_connection((server.host, server.port), timeout=10) as stuck,
    ):
        stuck.sendall(FOREVER)
        server.wait_for_line("system_apps: forever started")
        server.send_signal(signal.SIGINT)
        server.wait_for_line(DRAINING)
        started = time.monotonic()
        server.send_signal(signal.SIGINT)
        server.wait_exit(15)
        assert time.monotonic() - started < 10  # not the 30 s default, nor for ever


def test_serve_run_uds_makes_the_socket_connectable_by_other_users(uds_path: Path) -> None:
    umask = os.umask(0o022)  # the child inherits it: 0o755 before the mend
    try:
        with serve_run("system_apps:app", "--uds", str(uds_path)):
            assert stat.S_IMODE(uds_path.stat().st_mode) == 0o666
    finally:
        os.umask(umask)


def test_a_malformed_request_is_answered_400_and_warned_about_with_its_reason() -> None:
    with serve_run("system_apps:app") as server:
        with socket.create_connection((server.host, server.port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
            assert wait_closed(sock).startswith(b"HTTP/1.1 400 ")
        server.wait_for_line(r"WARNING: +Invalid HTTP request received from 127\.0\.0\.1:\d+: 400 .*Content-Length")


def test_log_level_trace_logs_the_connection_and_every_asgi_message() -> None:
    with serve_run("system_apps:app", "--log-level", "trace") as server:
        reply = exchange(server.host, server.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200 ")
        server.wait_for_line(r"^TRACE: +127\.0\.0\.1:\d+ - HTTP connection done")
    trace = [line for line in server.lines if line.startswith("TRACE:")]
    assert [line.split(" - ", 1)[1].split(" {", 1)[0] for line in trace] == [
        "HTTP connection made",
        "ASGI [1] started, scope",
        "ASGI [1] received",
        "ASGI [1] sent",
        "ASGI [1] sent",
        "ASGI [1] completed",
        "HTTP connection done",
    ]
