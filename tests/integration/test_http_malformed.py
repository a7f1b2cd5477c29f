"""Malformed and ambiguous requests (tests/data/http/) against a `Server` in the test process, both fronts.

Each is answered with its status and the connection closed; the app is never called
(its call counter, read over a new connection, does not move), so nothing smuggled
behind the bad request is served either, and the server goes on serving.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from inprocess import InProcessServer, serve_inprocess
from support import read_until_closed, split_responses

FRONTS = ("httptools", "h11")
CORPUS = sorted((Path(__file__).resolve().parent.parent / "data" / "http").glob("*.http"))
GOOD = b"GET /count HTTP/1.1\r\nHost: t\r\n\r\n"
HEAD_LIMIT = 4096


def load_case(path: Path) -> tuple[int, bytes]:
    """(expected status, request bytes) of one corpus file (format: tests/data/http/README.md)."""
    lines = [line for line in path.read_text("utf-8").splitlines() if not line.startswith("#")]
    request = "".join(lines).encode("latin-1").decode("unicode_escape").encode("latin-1")
    return int(path.name.split("-", 1)[0]), request


@pytest.fixture(scope="module", params=FRONTS)
def server(request: pytest.FixtureRequest) -> Iterator[InProcessServer]:
    options = {"http": request.param, "max_request_header_size": HEAD_LIMIT, "access_log": False}
    with serve_inprocess("protocol_apps:app", **options) as running:
        yield running


def send_and_read_until_closed(server: InProcessServer, data: bytes, timeout: float = 10.0) -> bytes:
    """Send `data` on a new connection; everything the server sends until it closes.

    Fails if the server has not closed within `timeout`.
    """
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"connection still open after {timeout}s; received {b''.join(chunks)!r}"
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def app_calls(server: InProcessServer) -> int:
    """How many times the app has been called, read over a new connection (which must work)."""
    raw = send_and_read_until_closed(server, b"GET /calls HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    [(status, _, body)] = split_responses(raw)
    assert status == 200
    return int(body)


@pytest.mark.parametrize("case", CORPUS, ids=lambda path: path.stem)
def test_refused_and_closed_without_calling_the_app(server: InProcessServer, case: Path) -> None:
    status, bad = load_case(case)
    before = app_calls(server)
    raw = send_and_read_until_closed(server, bad + GOOD)
    responses = split_responses(raw)
    assert [r[0] for r in responses] == [status], raw
    assert responses[0][1]["connection"] == "close"
    assert app_calls(server) == before


@pytest.mark.parametrize("case", CORPUS, ids=lambda path: path.stem)
def test_refused_after_the_good_request_before_it(server: InProcessServer, case: Path) -> None:
    status, bad = load_case(case)
    before = app_calls(server)
    raw = send_and_read_until_closed(server, GOOD + bad + GOOD)
    responses = split_responses(raw)
    assert [(r[0], r[2]) for r in responses] == [(200, b"counted"), (status, responses[1][2])], raw
    assert responses[1][1]["connection"] == "close"
    assert app_calls(server) == before + 1


def test_corpus_covers_every_status() -> None:
    assert {load_case(path)[0] for path in CORPUS} == {400, 431, 501, 505}
    assert len(CORPUS) >= 40


def send_until_answered(server: InProcessServer, start: bytes, piece: bytes, pieces: int = 64) -> bytes:
    """Send `start`, then `piece` after `piece` until the server answers; all it sends until it closes."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(start)
        for _ in range(pieces):
            sock.sendall(piece)
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                break
        return read_until_closed(sock)


def test_header_that_never_ends_is_refused_while_it_arrives(server: InProcessServer) -> None:
    """431 once the unfinished header passes the limit, not a wait for the head timeout."""
    before = app_calls(server)
    answer = send_until_answered(server, b"GET /count HTTP/1.1\r\nHost: t\r\nX-Endless: ", b"a" * 1024)
    assert [r[0] for r in split_responses(answer)] == [431]
    assert app_calls(server) == before


def test_header_name_that_never_ends_is_refused_while_it_arrives(server: InProcessServer) -> None:
    answer = send_until_answered(server, b"GET /count HTTP/1.1\r\nHost: t\r\nX-", b"a" * 1024)
    assert [r[0] for r in split_responses(answer)] == [431]


def test_request_line_that_never_ends_is_refused_while_it_arrives(server: InProcessServer) -> None:
    answer = send_until_answered(server, b"GET /", b"a" * 1024)
    assert [r[0] for r in split_responses(answer)] == [431]
