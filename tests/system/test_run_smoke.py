"""The first request through each front, over a real socket to a real `serve run` child.

tests/integration/test_smoke.py makes the same request to a server in the test process; this
one keeps the whole command-line path (flags parsed, the CLI's startup line, SIGTERM, exit 0).
"""

from __future__ import annotations

import pytest
from support import exchange, serve_run, split_responses

pytestmark = pytest.mark.system


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
    assert server.proc.returncode == 0
