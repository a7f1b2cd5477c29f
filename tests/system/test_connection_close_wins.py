"""A `close` in any Connection header ends the connection (RFC 9112 §9.6), whatever follows it.

Found by a fault hunt (stop 19): with two Connection fields, "close" then "keep-alive",
inspect_head let the later one win. Over h11 the pipelined second request is then served on a connection
the client asked to close; over httptools the first response goes out without
`connection: close` and llhttp (which does see the close) answers the second with a 400.
uvicorn closes after the first response with both parsers.
"""

from __future__ import annotations

import pytest
from support import exchange, serve_run, split_responses

pytestmark = pytest.mark.system


def test_close_in_an_earlier_connection_header_still_closes(http: str) -> None:
    with serve_run("basic:echo", "--http", http, "--no-access-log") as server:
        raw = exchange(
            server.host,
            server.port,
            b"GET /first HTTP/1.1\r\nHost: t\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n"
            b"GET /second HTTP/1.1\r\nHost: t\r\n\r\n",
            timeout=5,
        )
    responses = split_responses(raw)
    assert [(status, body) for status, _, body in responses] == [(200, b"/first")], raw
    assert responses[0][1].get("connection") == "close", raw
