"""Response framing when the app sets Content-Length and Transfer-Encoding itself, both fronts.

RFC 9112 §6.1-6.3: the two never go out together; Transfer-Encoding wins; a final coding
other than chunked is close-delimited; an HTTP/1.0 client gets no Transfer-Encoding; what
cannot be honoured is a 500 before anything is written. Responses here are read the way a
client or proxy reads them (Transfer-Encoding before Content-Length), and a second request
on the same connection shows the framing kept the two in step.

The app is this module's `app`, handed to the in-process server as the object itself:
each request names the response headers (`h=name:value`) and body pieces (`piece=`).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote

import pytest
from inprocess import InProcessServer, serve_inprocess

FRONTS = ("httptools", "h11")
TIMEOUT_S = 10.0


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the headers and body pieces the query asks for; `/stall` sends no body."""
    if scope["type"] != "http":
        return
    query = parse_qs(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    headers = [tuple(item.encode("latin-1").split(b":", 1)) for item in query.get("h", [])]
    await send({"type": "http.response.start", "status": int(query.get("status", ["200"])[0]), "headers": headers})
    if scope["path"] == "/stall":  # the server clock writes the head, or answers 500
        await asyncio.Event().wait()
    pieces = [piece.encode("latin-1") for piece in query.get("piece", [])]
    for index, piece in enumerate(pieces):
        await send({"type": "http.response.body", "body": piece, "more_body": index < len(pieces) - 1})
    if not pieces:
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module", params=FRONTS)
def server(request: pytest.FixtureRequest) -> Iterator[InProcessServer]:
    with serve_inprocess(app, http=request.param, timeout_graceful_shutdown=1) as running:
        yield running


def target(path: str = "/", *headers: str, pieces: tuple[str, ...] = (), status: int = 200) -> str:
    query = [f"h={quote(h)}" for h in headers] + [f"piece={quote(p)}" for p in pieces] + [f"status={status}"]
    return path + "?" + "&".join(query)


def request(path: str, *, version: str = "1.1", close: bool = False) -> bytes:
    lines = [f"GET {path} HTTP/{version}", "Host: t", *(["Connection: close"] if close else [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


Response = tuple[int, list[tuple[str, str]], bytes]


def exchange(server: InProcessServer, data: bytes, count: int) -> tuple[list[Response], bool]:
    """Send `data`, read `count` responses as a client would; (responses, whether the server then closed)."""
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(data)
        reader = _Reader(sock)
        responses = [reader.response() for _ in range(count)]
        return responses, reader.closed()


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.deadline = time.monotonic() + TIMEOUT_S

    def _fill(self) -> bool:
        self.sock.settimeout(max(self.deadline - time.monotonic(), 0.01))
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        self.buffer += chunk
        return bool(chunk)

    def _take_until(self, mark: bytes) -> bytes:
        while mark not in self.buffer:
            assert self._fill(), f"closed before {mark!r}: {self.buffer!r}"
        taken, _, self.buffer = self.buffer.partition(mark)
        return taken

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            assert self._fill(), f"closed after {len(self.buffer)} of {size} bytes"
        taken, self.buffer = self.buffer[:size], self.buffer[size:]
        return taken

    def response(self) -> Response:
        lines = self._take_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        headers = [(n.strip().lower(), v.strip()) for n, _, v in (line.partition(":") for line in lines[1:])]
        names = [name for name, _ in headers]
        assert not ("content-length" in names and "transfer-encoding" in names), lines
        status = int(lines[0].split(" ", 2)[1])
        coding = [value.lower() for name, value in headers if name == "transfer-encoding"]
        if status < 200 or status in (204, 304):
            body = b""
        elif coding and coding[-1].split(",")[-1].strip() == "chunked":
            body = b""
            while size := int(self._take_until(b"\r\n").split(b";")[0], 16):
                body += self._take(size)
                assert self._take(2) == b"\r\n"
            assert self._take_until(b"\r\n") == b""  # no trailers
        elif coding or "content-length" not in names:
            body = self._until_closed()
        else:
            body = self._take(int(dict(headers)["content-length"]))
        return status, headers, body

    def _until_closed(self) -> bytes:
        while self._fill():
            pass
        data, self.buffer = self.buffer, b""
        return data

    def closed(self) -> bool:
        return not self.buffer and not self._fill()


def header(response: Response, name: str) -> list[str]:
    return [value for key, value in response[1] if key == name]


def test_length_and_chunked_from_the_app_go_out_chunked(server: InProcessServer) -> None:
    both = target("/", "content-length:5", "transfer-encoding:chunked", pieces=("hel", "lo"))
    (first, second), closed = exchange(server, request(both) + request(target(pieces=("next",)), close=True), 2)
    assert (first[0], first[2], header(first, "transfer-encoding")) == (200, b"hello", ["chunked"])
    assert header(first, "content-length") == []
    assert (second[2], closed) == (b"next", True)


def test_length_and_chunked_with_one_body_message(server: InProcessServer) -> None:
    both = target("/", "transfer-encoding:chunked", "content-length:3", pieces=("abcdef",))
    (first, second), _ = exchange(server, request(both) + request(target(pieces=("next",)), close=True), 2)
    assert (first[2], header(first, "content-length"), second[2]) == (b"abcdef", [], b"next")


def test_a_final_coding_other_than_chunked_is_close_delimited(server: InProcessServer) -> None:
    gzip = target("/", "content-length:2", "transfer-encoding:gzip", pieces=("not ", "gzip"))
    [response], closed = exchange(server, request(gzip) + request(target(pieces=("never",))), 1)
    assert (response[0], response[2]) == (200, b"not gzip")
    assert (header(response, "transfer-encoding"), header(response, "content-length")) == (["gzip"], [])
    assert header(response, "connection") == ["close"]
    assert closed


def test_http_10_gets_no_transfer_encoding(server: InProcessServer) -> None:
    chunked = target("/", "transfer-encoding:chunked", "content-length:99", pieces=("a", "b"))
    [response], closed = exchange(server, request(chunked, version="1.0"), 1)
    assert (response[2], header(response, "transfer-encoding"), header(response, "content-length")) == (b"ab", [], [])
    assert closed


@pytest.mark.parametrize(
    "headers",
    [("content-length:5", "content-length:6"), ("transfer-encoding:chunked, chunked",)],
    ids=["differing-lengths", "chunked-twice"],
)
def test_framing_the_server_cannot_honour_is_a_500(server: InProcessServer, headers: tuple[str, ...]) -> None:
    [response], closed = exchange(server, request(target("/", *headers, pieces=("hello",))), 1)
    assert (response[0], header(response, "connection"), closed) == (500, ["close"], True)


def test_204_carries_neither_length_nor_coding(server: InProcessServer) -> None:
    no_content = target("/", "content-length:5", "transfer-encoding:chunked", "x-kept:1", status=204)
    [first, second], _ = exchange(server, request(no_content) + request(target(pieces=("next",)), close=True), 2)
    assert (first[0], header(first, "x-kept"), second[2]) == (204, ["1"], b"next")
    assert header(first, "content-length") == header(first, "transfer-encoding") == []


def test_a_held_head_the_server_clock_cannot_write_is_a_500(server: InProcessServer) -> None:
    # The app starts, then waits without sending a body: the server clock writes the head
    # (within a second). Encoding it fails here; the clock must answer 500, not stop.
    started = time.monotonic()
    [response], closed = exchange(server, request(target("/stall", "content-length:1", "content-length:2")), 1)
    assert (response[0], closed) == (500, True)
    assert time.monotonic() - started < 5
    [again], _ = exchange(server, request(target("/stall", "content-length:1", "content-length:2")), 1)
    assert again[0] == 500
