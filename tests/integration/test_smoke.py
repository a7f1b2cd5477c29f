"""The first request through each front, over a real socket to a `Server` in the test process.

tests/system/test_run_smoke.py sends the same requests to a `serve run` child.
"""

from __future__ import annotations

from inprocess import serve_inprocess
from support import exchange, split_responses


def test_pipelined_requests_are_answered_in_order(http: str) -> None:
    with serve_inprocess("basic:echo", http=http, access_log=False) as server:
        raw = exchange(
            server.host,
            server.port,
            b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n"
            b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nsecond"
            b"GET /third HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
    assert [body for _, _, body in split_responses(raw)] == [b"/first", b"second", b"/third"]
