"""HTTP/1.1 semantics through a `Server` in the test process, both fronts: keep-alive,
pipelining, Expect, HEAD, chunked bodies both ways, HTTP/1.0, default headers, broken apps,
the scope.

One server per front serves every test of the module (the app is tests/apps/protocol_apps.py);
a second one per front runs with header and root-path options.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from apps.protocol_apps import FIXED_BODY, piece
from inprocess import InProcessServer, serve_inprocess

FRONTS = ("httptools", "h11")
TIMEOUT_S = 10.0


@pytest.fixture(scope="module", params=FRONTS)
def server(request: pytest.FixtureRequest) -> Iterator[InProcessServer]:
    # A short graceful timeout: one test leaves an app waiting for a disconnect it never hears.
    with serve_inprocess("protocol_apps:app", http=request.param, timeout_graceful_shutdown=1) as running:
        yield running


@pytest.fixture(scope="module", params=FRONTS)
def configured(request: pytest.FixtureRequest) -> Iterator[InProcessServer]:
    options = {"date_header": False, "server_header": False, "headers": [("X-A", "b"), ("X-Other", "c d")]}
    with serve_inprocess("protocol_apps:app", http=request.param, root_path="/api", **options) as running:
        yield running


# -- A raw client that reads one response at a time ------------------------------------------


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes
    chunk_sizes: list[int] = field(default_factory=list)

    def header(self, name: str) -> str:
        values = self.all(name)
        assert len(values) == 1, f"{name}: {values} in {self.raw!r}"
        return values[0]

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name]


class Client:
    """One raw connection: send bytes, read exactly one response at a time, see it close."""

    def __init__(self, server: InProcessServer) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT_S)
        self.buffer = b""
        self.deadline = time.monotonic() + TIMEOUT_S

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        remaining = self.deadline - time.monotonic()
        assert remaining > 0, f"nothing more within {TIMEOUT_S}s; buffered {self.buffer[:200]!r}"
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(262144)
        except ConnectionResetError:
            chunk = b""
        self.buffer += chunk
        return bool(chunk)

    def _take_line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            assert self._fill(), f"closed inside a line: {self.buffer!r}"
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            assert self._fill(), f"closed after {len(self.buffer)} of {size} bytes"
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_response(self, *, head: bool = False) -> Response:
        """The next response; `head` when it answers a HEAD request (no body whatever it says)."""
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"closed before a response head: {self.buffer!r}"
        head_bytes, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        raw = head_bytes + b"\r\n\r\n"
        lines = head_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = [(n.strip().lower(), v.strip()) for n, _, v in (line.partition(":") for line in lines[1:])]
        response = Response(status, headers, b"", raw)
        if head or status < 200 or status in (204, 304):
            return response
        if response.all("transfer-encoding") == ["chunked"]:
            body = []
            while True:
                size = int(self._take_line().split(b";")[0], 16)
                response.chunk_sizes.append(size)
                if size == 0:
                    while self._take_line():  # trailers, up to the blank line
                        pass
                    break
                body.append(self._take(size))
                assert self._take(2) == b"\r\n"
            response.body = b"".join(body)
        elif response.all("content-length"):
            response.body = self._take(int(response.header("content-length")))
        else:
            response.body = self.read_until_closed()
        return response

    def read_until_closed(self) -> bytes:
        """Everything the server sends from here until it closes."""
        while self._fill():
            pass
        data, self.buffer = self.buffer, b""
        return data

    def closed(self) -> bool:
        """Whether the server closes the connection (with nothing more sent) within the timeout."""
        if self.buffer:
            return False
        try:
            return not self._fill()
        except (AssertionError, TimeoutError):
            return False

    def still_open(self, seconds: float = 0.2) -> bool:
        """Whether the server neither closes nor sends for `seconds` (a deliberate, short wait)."""
        self.sock.settimeout(seconds)
        try:
            return self.sock.recv(1, socket.MSG_PEEK) != b""
        except TimeoutError:
            return True
        except ConnectionResetError:
            return False

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def get(path: str, *headers: str, method: str = "GET", version: str = "1.1", body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", *(["Host: t"] if version == "1.1" else []), *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(path: str, *chunks: bytes, trailers: bytes = b"", extension: bytes = b"") -> bytes:
    framed = b"".join(b"%x%s\r\n%s\r\n" % (len(c), extension, c) for c in chunks)
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    return head + framed + b"0\r\n" + trailers + b"\r\n"


def scope_of(response: Response) -> dict[str, Any]:
    assert response.status == 200, response.raw
    info: dict[str, Any] = json.loads(response.body)
    return info


def one(server: InProcessServer, request: bytes, *, head: bool = False) -> Response:
    with Client(server) as client:
        client.send(request)
        return client.read_response(head=head)


# -- Keep-alive and pipelining ------------------------------------------------------------------


def test_keep_alive_serves_several_requests_on_one_connection(server: InProcessServer) -> None:
    with Client(server) as client:
        ports = set()
        for index in range(5):
            client.send(get("/scope", body=b"body %d" % index))
            info = scope_of(client.read_response())
            assert info["body"] == f"body {index}"
            ports.add(info["client"][1])
        assert len(ports) == 1
        assert client.still_open(0.1)


def test_connection_close_from_the_client_is_honoured(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(get("/fixed", "Connection: close"))
        response = client.read_response()
        assert (response.status, response.body, response.header("connection")) == (200, FIXED_BODY, "close")
        assert client.closed()


def test_connection_close_answers_come_whole_while_other_connections_are_open(server: InProcessServer) -> None:
    # With another connection open, as when the server has work elsewhere.
    with Client(server) as idle:
        idle.send(get("/fixed"))
        assert idle.read_response().status == 200
        for request in (get("/fixed", "Connection: close"), get("/fixed", version="1.0")):
            with Client(server) as client:
                client.send(request)
                response = client.read_response()
                assert (response.status, response.body) == (200, FIXED_BODY)
                assert client.closed()
        assert idle.still_open(0.1)


def test_connection_close_from_the_app_is_honoured(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(get("/own-headers") + get("/fixed"))
        response = client.read_response()
        assert response.header("connection") == "close"
        assert client.closed()


def test_pipelined_responses_come_in_order(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(
            get("/sleep?s=0.2", method="POST", body=b"first")
            + get("/echo", method="POST", body=b"second")
            + chunked("/echo", b"thi", b"rd")
            + get("/fixed", method="HEAD")
            + get("/chunks?n=2&size=3")
            + get("/echo", "Connection: close", method="PUT", body=b"last")
        )
        bodies = [client.read_response(head=index == 3).body for index in range(6)]
        assert client.closed()
    assert bodies == [b"slept", b"second", b"third", b"", piece(0, 3) + piece(1, 3), b"last"]


def test_pipelined_requests_behind_a_slow_one_wait_their_turn(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(get("/sleep?s=0.3") + get("/fixed"))
        first = client.read_response()
        second = client.read_response()
    assert (first.body, second.body) == (b"slept", FIXED_BODY)


# -- Expect: 100-continue -------------------------------------------------------------------------


def test_expect_continue_is_answered_when_the_app_reads_the_body(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        interim = client.read_response()
        assert (interim.status, interim.raw) == (100, b"HTTP/1.1 100 Continue\r\n\r\n")
        client.send(b"hello")
        final = client.read_response()
    assert (final.status, final.body) == (200, b"hello")


def test_expect_continue_is_not_sent_when_the_app_answers_without_reading(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(b"POST /no-read HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        final = client.read_response()
        assert (final.status, final.body) == (200, b"did not read")
        # RFC 9110 §10.1.1: the client may send the body anyway, or not and go on with its next
        # request; the two cannot be told apart, so the connection closes (as Go's server does).
        assert final.header("connection") == "close"
        assert client.closed()


def test_expect_continue_is_ignored_for_http_10(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
        response = client.read_response()
    assert (response.status, response.body) == (200, b"hello")


# -- HEAD ---------------------------------------------------------------------------------------


def test_head_has_the_headers_of_get_and_no_body(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(get("/fixed"))
        got = client.read_response()
        client.send(get("/fixed", method="HEAD") + get("/echo", method="POST", body=b"after"))
        head = client.read_response(head=True)
        after = client.read_response()
    assert head.status == got.status == 200
    assert head.header("content-length") == got.header("content-length") == str(len(FIXED_BODY))
    assert head.header("content-type") == got.header("content-type")
    assert after.body == b"after"  # nothing of a body came between the two


def test_head_of_a_streamed_response_sends_no_body_bytes(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(get("/chunks?n=3&size=4", method="HEAD") + get("/fixed"))
        head = client.read_response(head=True)
        after = client.read_response()
    assert head.status == 200
    assert after.body == FIXED_BODY


# -- Chunked request bodies ---------------------------------------------------------------------


def test_chunked_request_body_with_extensions_and_trailers(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(
            chunked(
                "/scope", b"hello", b" ", b"chunked world", extension=b';name=value;q="x y"', trailers=b"X-Sum: 1\r\n"
            )
            + get("/scope", "X-Next: 2")
        )
        first = scope_of(client.read_response())
        second = scope_of(client.read_response())
    assert first["body"] == "hello chunked world"
    assert ["transfer-encoding", "chunked"] in first["headers"]
    # Trailers are not headers of this request, nor of the next one.
    assert second["headers"] == [["host", "t"], ["x-next", "2"]]


@pytest.mark.parametrize("extension", [b" ;name=value", b" ; name = value", b'\t;\tq = "x y" ; flag'])
def test_chunk_extensions_with_whitespace_around_the_semicolon(server: InProcessServer, extension: bytes) -> None:
    # RFC 9112 §7.1.1: BWS around ";" and "="; RFC 9110 §5.6.3: a recipient must accept it.
    with Client(server) as client:
        client.send(chunked("/scope", b"hello", b" world", extension=extension) + get("/scope", "X-Next: 2"))
        first = scope_of(client.read_response())
        second = scope_of(client.read_response())
    assert (first["body"], second["headers"]) == ("hello world", [["host", "t"], ["x-next", "2"]])


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_the_body_of_an_upgrade_request_is_not_a_request(server: InProcessServer, framing: str) -> None:
    # A request asking to switch protocols (h2c here, declined) whose body is a whole
    # request: llhttp skips such a body, and parsing it as the next request would serve a
    # request that every proxy in front of us read as a body.
    smuggled = get("/count", "X-Smuggled: 1")
    upgrade = ("Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__")
    if framing == "length":
        request = get("/echo", *upgrade, method="POST", body=smuggled)
    else:
        head = get("/echo", *upgrade, "Transfer-Encoding: chunked", method="POST")
        request = head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
    before = calls(server)
    with Client(server) as client:
        client.send(request + get("/fixed"))
        echoed = client.read_response()
        after = client.read_response()
    assert (echoed.status, echoed.body) == (200, smuggled)
    assert (after.status, after.body) == (200, FIXED_BODY)
    assert calls(server) == before + 2


def test_an_extension_method_is_501_and_closes(server: InProcessServer) -> None:
    # RFC 9110 §9.1 allows any token; llhttp parses a fixed set, so neither front serves one.
    before = calls(server)
    with Client(server) as client:
        client.send(get("/count", method="FOOBAR") + get("/count"))
        response = client.read_response()
        assert client.closed()
    assert (response.status, response.header("connection")) == (501, "close")
    assert calls(server) == before


def calls(server: InProcessServer) -> int:
    """How many times the app has been called (`/calls` itself excluded)."""
    return int(one(server, get("/calls")).body)


def test_chunked_request_body_arriving_piece_by_piece(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(b"POST /scope HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b"4\r\nabcd\r\n", b"3\r\n", b"efg", b"\r\n", b"0\r\n", b"\r\n"):
            client.send(part)
            assert client.still_open(0.02)
        info = scope_of(client.read_response())
    assert info["body"] == "abcdefg"


def test_empty_chunked_request_body(server: InProcessServer) -> None:
    info = scope_of(one(server, chunked("/scope")))
    assert (info["body"], info["messages"]) == ("", 1)


# -- Response framing ---------------------------------------------------------------------------


def test_several_body_messages_without_length_are_chunked(server: InProcessServer) -> None:
    response = one(server, get("/chunks?n=3&size=5"))
    assert response.header("transfer-encoding") == "chunked"
    assert response.all("content-length") == []
    assert response.body == piece(0, 5) + piece(1, 5) + piece(2, 5)
    assert response.chunk_sizes[-1] == 0
    assert sum(response.chunk_sizes) == 15


def test_one_body_message_gets_a_content_length(server: InProcessServer) -> None:
    response = one(server, get("/fixed"))
    assert response.header("content-length") == str(len(FIXED_BODY))
    assert response.all("transfer-encoding") == []


def test_empty_final_body_gets_content_length_zero(server: InProcessServer) -> None:
    response = one(server, get("/chunks?n=0"))
    assert (response.header("content-length"), response.body) == ("0", b"")


# -- HTTP/1.0 -----------------------------------------------------------------------------------


def test_http_10_response_is_close_delimited_without_a_length(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(get("/chunks?n=3&size=5", version="1.0"))
        response = client.read_response()
    assert response.raw.startswith(b"HTTP/1.1 200 ")
    assert response.all("transfer-encoding") == response.all("content-length") == []
    assert response.body == piece(0, 5) + piece(1, 5) + piece(2, 5)


def test_http_10_closes_unless_asked_to_keep_alive(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(get("/fixed", version="1.0"))
        response = client.read_response()
        assert (response.body, response.header("connection")) == (FIXED_BODY, "close")
        assert client.closed()


def test_http_10_keep_alive_when_asked(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(get("/fixed", "Connection: keep-alive", version="1.0"))
        response = client.read_response()
        assert (response.body, response.header("connection")) == (FIXED_BODY, "keep-alive")
        client.send(get("/scope", version="1.0"))
        info = scope_of(client.read_response())
        assert info["http_version"] == "1.0"
        assert client.closed()


def test_http_10_keep_alive_with_a_streamed_body_still_closes(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(get("/chunks?n=2&size=3", "Connection: keep-alive", version="1.0"))
        response = client.read_response()  # read until close: there is no other framing
    assert response.body == piece(0, 3) + piece(1, 3)
    assert response.header("connection") == "close"


# -- Default headers ----------------------------------------------------------------------------


def test_date_and_server_headers_are_sent(server: InProcessServer) -> None:
    response = one(server, get("/fixed"))
    assert response.header("server") == "serve"
    sent = parsedate_to_datetime(response.header("date")).timestamp()
    assert abs(sent - time.time()) < 5


def test_app_server_and_date_headers_replace_the_defaults(server: InProcessServer) -> None:
    response = one(server, get("/own-headers"))
    assert response.header("server") == "own-server"
    assert response.header("date") == "Thu, 01 Jan 1970 00:00:00 GMT"


def test_configured_headers_replace_date_and_server(configured: InProcessServer) -> None:
    response = one(configured, get("/fixed"))
    assert response.all("date") == response.all("server") == []
    assert (response.header("x-a"), response.header("x-other")) == ("b", "c d")


def test_configured_headers_are_on_errors_the_server_answers_itself(configured: InProcessServer) -> None:
    for request in (b"GET / HTTP/1.1\r\n\r\n", get("/raise-before-start")):
        response = one(configured, request)
        assert response.status in (400, 500)
        assert response.header("x-a") == "b"
        assert response.all("date") == []


# -- Broken apps --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/length-short-streamed", "/length-long-streamed"])
def test_body_not_matching_its_content_length_cuts_the_connection(server: InProcessServer, path: str) -> None:
    mark = len(server.lines)
    with Client(server) as client:
        client.send(get(path) + get("/fixed"))
        raw = client.read_until_closed()  # fails unless the server closes: no hang
    assert FIXED_BODY not in raw  # the pipelined request behind it is never answered
    if raw:  # whatever was written, the client can tell the body is incomplete
        head, _, body = raw.partition(b"\r\n\r\n")
        declared = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        assert len(body) < declared
    server.wait_for_line("response body does not match its Content-Length", start=mark)


@pytest.mark.parametrize("path", ["/length-short", "/length-long"])
def test_a_one_message_body_not_matching_its_content_length_is_a_500(server: InProcessServer, path: str) -> None:
    """Head and body in one message: nothing was written yet, so the client gets a 500, then the close."""
    mark = len(server.lines)
    with Client(server) as client:
        client.send(get(path) + get("/fixed"))
        raw = client.read_until_closed()
    assert raw.startswith(b"HTTP/1.1 500 ")
    assert FIXED_BODY not in raw
    server.wait_for_line("response body does not match its Content-Length", start=mark)


@pytest.mark.parametrize("path", ["/inject-value", "/inject-name", "/inject-lf"])
def test_header_with_a_line_break_from_the_app_is_a_500_not_a_split(server: InProcessServer, path: str) -> None:
    with Client(server) as client:
        client.send(get(path))
        response = client.read_response()
        assert client.closed()
    assert response.status == 500
    assert b"injected" not in response.raw.lower()


@pytest.mark.parametrize(
    "path", ["/raise-before-start", "/raise-after-start", "/return-without-response", "/return-after-start"]
)
def test_app_failing_before_any_byte_is_written_gets_a_500(server: InProcessServer, path: str) -> None:
    mark = len(server.lines)
    with Client(server) as client:
        client.send(get(path) + get("/fixed"))
        response = client.read_response()
        assert (response.status, response.header("connection")) == (500, "close")
        assert client.closed()
    server.wait_for_line(r"ERROR:.*(Exception in ASGI application|returned without)", start=mark)
    assert one(server, get("/fixed")).body == FIXED_BODY


def test_app_failing_after_the_head_is_written_closes_the_connection(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(get("/raise-after-body") + get("/fixed"))
        raw = client.read_until_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"transfer-encoding: chunked" in head
    assert body == b"7\r\npartial\r\n"  # no last chunk: the client can tell the body is cut short


# -- http.disconnect ----------------------------------------------------------------------------


def test_disconnect_reaches_an_app_waiting_on_receive_when_the_client_resets(server: InProcessServer) -> None:
    tag = f"reset-{id(server)}"
    mark = len(server.lines)
    client = Client(server)
    client.send(get(f"/wait-disconnect?tag={tag}"))
    server.wait_for_line(f"waiting {tag}$", start=mark)
    client.reset()
    server.wait_for_line(f"received http.disconnect {tag}$", start=mark)


def test_disconnect_reaches_an_app_reading_a_body_the_client_abandons(server: InProcessServer) -> None:
    mark = len(server.lines)
    with Client(server) as client:
        client.send(b"POST /wait-disconnect HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly ten b")
        assert client.still_open(0.05)
    server.wait_for_line("disconnected while reading a body", start=mark)


def test_disconnect_reaches_an_app_waiting_on_receive_when_the_client_closes(server: InProcessServer) -> None:
    tag = f"close-{id(server)}"
    mark = len(server.lines)
    with Client(server) as client:
        client.send(get(f"/wait-disconnect?tag={tag}"))
        server.wait_for_line(f"waiting {tag}$", start=mark)
    server.wait_for_line(f"received http.disconnect {tag}$", timeout=2, start=mark)


def test_a_client_that_half_closes_still_reads_its_response(server: InProcessServer) -> None:
    with Client(server) as client:
        client.send(get("/scope/half-closed"))
        client.sock.shutdown(socket.SHUT_WR)
        assert scope_of(client.read_response())["path"] == "/scope/half-closed"


# -- The scope ----------------------------------------------------------------------------------


def test_percent_encoded_path_and_query_string(server: InProcessServer) -> None:
    info = scope_of(one(server, get("/scope/caf%C3%A9/a%2Fb%20c?x=%20y&z=%2F&e=")))
    assert info["path"] == "/scope/café/a/b c"
    assert info["raw_path"] == "/scope/caf%C3%A9/a%2Fb%20c"
    assert info["query_string"] == "x=%20y&z=%2F&e="
    assert (info["root_path"], info["method"], info["http_version"]) == ("", "GET", "1.1")


def test_absolute_form_target(server: InProcessServer) -> None:
    info = scope_of(one(server, get("http://example.com:8080/scope/abs?q=1")))
    assert (info["path"], info["raw_path"], info["query_string"]) == ("/scope/abs", "/scope/abs", "q=1")


def test_headers_keep_their_order_and_raw_values(server: InProcessServer) -> None:
    info = scope_of(one(server, get("/scope", "X-B: 2", "x-a:  spaced value\t", "X-B: 1", "X-Obs: caf\xe9")))
    assert info["headers"] == [["host", "t"], ["x-b", "2"], ["x-a", "spaced value"], ["x-b", "1"], ["x-obs", "café"]]


def test_root_path_prefixes_path_and_raw_path(configured: InProcessServer) -> None:
    info = scope_of(one(configured, get("/scope/x%20y?q=1")))
    assert (info["root_path"], info["path"], info["raw_path"]) == ("/api", "/api/scope/x y", "/api/scope/x%20y")
    assert info["query_string"] == "q=1"


def test_method_and_version_in_the_scope(server: InProcessServer) -> None:
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE"):
        info = scope_of(one(server, get("/scope", method=method)))
        assert info["method"] == method
