"""HTTP/1.1 request-side faults found by a fault hunt, over a real `serve run` with each parser front.

h11 took what llhttp refuses: a bare LF inside a head (it ends a line there, so a
Content-Length hidden in what a proxy reads as one header value framed a second request
out of the first one's body), control bytes in a field value, and an authority-form target
on GET. Neither front checked the Host value. Each is now 400 and the connection closed,
without calling the app, under both fronts alike (tests/data/http/ holds the same cases
for the in-process corpus tests).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import ServeProcess, exchange, serve_run, split_responses

pytestmark = pytest.mark.system

SMUGGLED = (
    b"POST /count HTTP/1.1\r\nHost: t\r\nX: y\nContent-Length: 5\r\n\r\nhelloGET /count HTTP/1.1\r\nHost: t\r\n\r\n"
)
REFUSED = {
    "bare-lf-hides-a-length": SMUGGLED,
    "bare-lf-line-endings": b"GET /count HTTP/1.1\nHost: t\n\n",
    "control-bytes-in-a-value": b"GET /count HTTP/1.1\r\nHost: t\r\nX: a\x01b\x7f\r\n\r\n",
    "authority-form-on-get": b"GET t:80 HTTP/1.1\r\nHost: t\r\n\r\n",
    "invalid-host": b"GET /count HTTP/1.1\r\nHost: a b/../[x\r\n\r\n",
}


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request: pytest.FixtureRequest) -> Iterator[ServeProcess]:
    with serve_run("protocol_apps:app", "--http", request.param, "--no-access-log", "--lifespan", "off") as process:
        yield process


def app_calls(server: ServeProcess) -> int:
    [(status, _, body)] = split_responses(
        exchange(server.host, server.port, b"GET /calls HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    )
    assert status == 200
    return int(body)


@pytest.mark.parametrize("data", list(REFUSED.values()), ids=list(REFUSED))
def test_refused_with_400_and_closed_without_calling_the_app(server: ServeProcess, data: bytes) -> None:
    before = app_calls(server)
    responses = split_responses(exchange(server.host, server.port, data))
    assert [(status, headers.get("connection")) for status, headers, _ in responses] == [(400, "close")]
    assert app_calls(server) == before


def test_the_same_requests_written_well_are_served(server: ServeProcess) -> None:
    data = (
        b"POST /count HTTP/1.1\r\nHost: t\r\nX: y\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /count HTTP/1.1\r\nHost: [::1]:8000\r\nX: a\tb\r\n\r\n"
        b"CONNECT t:80 HTTP/1.1\r\nHost: t:80\r\nConnection: close\r\n\r\n"
    )
    responses = split_responses(exchange(server.host, server.port, data))
    # CONNECT's authority-form reaches the app (as the path "t:80", which it has no route for).
    assert [(status, body) for status, _, body in responses] == [
        (200, b"counted"),
        (200, b"counted"),
        (404, b"no route"),
    ]
