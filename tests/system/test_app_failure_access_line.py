"""A request the app fails is answered 500 by the server and, as in uvicorn, has its access line."""

from __future__ import annotations

import pytest
from support import exchange, serve_run, split_responses

pytestmark = pytest.mark.system


def test_a_500_for_an_app_that_never_answered_is_logged() -> None:
    with serve_run("system_apps:app") as server:
        raw = exchange(server.host, server.port, b"GET /empty HTTP/1.1\r\nHost: system-test\r\n\r\n")
        [(status, headers, _)] = split_responses(raw)
        assert (status, headers["connection"]) == (500, "close")
        server.wait_for_line(r'"GET /empty HTTP/1\.1" 500', timeout=10)
