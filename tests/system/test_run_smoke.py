"""The first request through each front, over a real socket to a real `serve run` child.

tests/integration/test_smoke.py makes the same request to a server in the test process; this
one keeps the whole command-line path (flags parsed, the CLI's startup line, SIGTERM, exit 0).
"""

from __future__ import annotations

import pytest
from support import exchange, serve_run, split_responses

pytestmark = pytest.mark.system


def pipelined(http: str, requests: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """The responses of a `serve run` echo server to `requests`, sent in one write; it then exits 0 on SIGTERM."""
    with serve_run("basic:echo", "--http", http, "--no-access-log") as server:
        raw = exchange(server.host, server.port, requests, timeout=5)
    assert server.proc.returncode == 0
    return split_responses(raw)


def test_pipelined_requests_are_answered_in_order(http: str) -> None:
    responses = pipelined(
        http,
        b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n"
        b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nsecond"
        b"GET /third HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    assert [body for _, _, body in responses] == [b"/first", b"second", b"/third"]


def test_a_close_in_an_earlier_connection_field_still_closes(http: str) -> None:
    # RFC 9112 §9.6: a close in any Connection field ends the connection. Found by a fault hunt
    # (stop 19): the later "keep-alive" field won, h11 then served the second request and
    # httptools (whose llhttp saw the close) answered it 400.
    responses = pipelined(
        http,
        b"GET /first HTTP/1.1\r\nHost: t\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n"
        b"GET /second HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    assert [(status, body) for status, _, body in responses] == [(200, b"/first")], responses
    assert responses[0][1].get("connection") == "close", responses


def test_an_answer_sent_before_100_continue_closes_the_connection(http: str) -> None:
    # Found by a fault hunt (stop 20): the app answered without reading, so no 100 Continue went
    # out and the client never sent its body; the connection stayed open and the client's next
    # request was read as that body (no answer under httptools, a silent close under h11).
    with serve_run("protocol_apps:app", "--http", http, "--no-access-log") as server:
        raw = exchange(
            server.host,
            server.port,
            b"POST /no-read HTTP/1.1\r\nHost: t\r\nContent-Length: 30\r\nExpect: 100-continue\r\n\r\n",
            timeout=5,
        )
    responses = split_responses(raw)
    assert [(status, body) for status, _, body in responses] == [(200, b"did not read")], raw
    assert responses[0][1].get("connection") == "close", raw
