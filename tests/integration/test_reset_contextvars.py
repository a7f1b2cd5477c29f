"""reset_contextvars: a pipelined request does not see the contextvars the one before it set.

Each connection's requests run in one contextvars context (or a fresh one per request with
the setting), inside the server's loop: nothing here needs a process of its own.
"""

from __future__ import annotations

from typing import Any

import pytest
from inprocess import serve_inprocess
from support import exchange, split_responses

PIPELINED = b"GET /first HTTP/1.1\r\nHost: t\r\n\r\nGET /second HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize(
    ("options", "second_sees"), [({}, b"/first"), ({"reset_contextvars": True}, b"nothing")], ids=["kept", "reset"]
)
def test_what_the_second_request_sees(http: str, options: dict[str, Any], second_sees: bytes) -> None:
    with serve_inprocess("context_apps:app", http=http, access_log=False, **options) as server:
        responses = split_responses(exchange(server.host, server.port, PIPELINED))
    assert [body for _, _, body in responses] == [b"nothing", second_sees]
