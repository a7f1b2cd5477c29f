"""`serve run` limits and timeouts: concurrency, max requests, keep-alive and request-head timeouts."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from support import exchange, hold_request, read_response, serve_run, split_responses, still_open, wait_closed

pytestmark = pytest.mark.system


def test_limit_concurrency_answers_503_beyond_the_limit(release_file: Path) -> None:
    with serve_run("system_apps:app", "--limit-concurrency", "1") as server, ThreadPoolExecutor(1) as pool:
        held = pool.submit(exchange, server.host, server.port, hold_request(release_file, close=True))
        server.wait_for_line("system_apps: hold started")
        refused = httpx.get(f"{server.url}/", timeout=10)
        release_file.touch()
        [(status, _, _)] = split_responses(held.result(timeout=15))
        after = httpx.get(f"{server.url}/", timeout=10)
    assert refused.status_code == 503
    assert status == 200
    assert after.status_code == 200  # the limit counts what runs now, not what ran
    assert "Exceeded concurrency limit (1)" in server.output


def test_limit_max_requests_exits_0_after_that_many_responses() -> None:
    with serve_run("system_apps:app", "--limit-max-requests", "3") as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            statuses = [client.get(f"/{n}").status_code for n in range(3)]
        assert server.wait_exit(15) == 0
    assert statuses == [200, 200, 200]
    assert "Maximum request limit of 3 reached" in server.output
    assert "system_apps: lifespan shutdown" in server.output


def test_idle_keep_alive_connection_is_closed_after_timeout_keep_alive(http: str) -> None:
    with (
        serve_run("system_apps:app", "--http", http, "--timeout-keep-alive", "1") as server,
        socket.create_connection((server.host, server.port), timeout=10) as client,
    ):
        client.sendall(b"GET / HTTP/1.1\r\nHost: system-test\r\n\r\n")
        assert read_response(client)[0] == 200
        assert still_open(client, 0.2)
        assert wait_closed(client, timeout=10) == b""


def test_connection_that_never_sends_is_closed_by_the_keep_alive_timeout(http: str) -> None:
    # The request-head timeout (10 s) is far away: what closes it is the keep-alive timeout.
    with (
        serve_run("system_apps:app", "--http", http, "--timeout-keep-alive", "1") as server,
        socket.create_connection((server.host, server.port), timeout=10) as silent,
    ):
        assert still_open(silent, 0.2)
        assert wait_closed(silent, timeout=8) == b""


def test_trickled_request_head_is_answered_408_after_timeout_request_header(http: str) -> None:
    with (
        serve_run("system_apps:app", "--http", http, "--timeout-request-header", "1") as server,
        socket.create_connection((server.host, server.port), timeout=10) as client,
    ):
        client.sendall(b"GET / HTTP/1.1\r\nHost: system-test\r\n")
        # One header line every 0.4 s: each byte is recent, yet the head as a whole is late.
        # The 20 lines would take 8 s; the answer must come long before they run out.
        for index in range(20):
            if not still_open(client, 0.4):
                break
            client.sendall(b"X-Trickle-%d: slow\r\n" % index)
        else:
            pytest.fail("no answer to a head still incomplete after 8 s")
        answer = wait_closed(client, timeout=10)
    [(status, headers, _)] = split_responses(answer)
    assert status == 408
    assert headers["connection"] == "close"
    assert index >= 2  # it did trickle past the timeout's worth of pauses before the 408
