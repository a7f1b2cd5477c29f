"""--reset-contextvars: a pipelined request does not see the contextvars the one before it set."""

from __future__ import annotations

import pytest
from support import exchange, serve_run, split_responses

PIPELINED = b"GET /first HTTP/1.1\r\nHost: t\r\n\r\nGET /second HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize(("options", "second_sees"), [((), b"/first"), (("--reset-contextvars",), b"nothing")])
def test_what_the_second_request_sees(http: str, options: tuple[str, ...], second_sees: bytes) -> None:
    with serve_run("context_apps:app", "--http", http, "--no-access-log", *options) as server:
        responses = split_responses(exchange(server.host, server.port, PIPELINED))
    assert [body for _, _, body in responses] == [b"nothing", second_sees]
