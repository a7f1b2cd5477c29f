"""The first request through each front, over a real socket to a real `serve run`."""

from __future__ import annotations

from support import exchange, serve_run, split_responses


def test_pipelined_requests_are_answered_in_order(http: str) -> None:
    with serve_run("basic:echo", "--http", http, "--no-access-log") as server:
        raw = exchange(
            server.host,
            server.port,
            b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n"
            b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nsecond"
            b"GET /third HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
    assert [body for _, _, body in split_responses(raw)] == [b"/first", b"second", b"/third"]
