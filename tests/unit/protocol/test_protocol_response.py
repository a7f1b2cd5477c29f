"""response.py: status lines, header checks, how each response body is framed."""

from __future__ import annotations

import pytest

from supervisor.protocol import response
from supervisor.protocol.response import (
    CHUNKED,
    CLOSE,
    HEAD_REQUEST,
    HTTP_10,
    LENGTH,
    NO_BODY,
    encode_chunk,
    encode_head,
    header_line,
    simple_response,
    status_line,
)

DEFAULTS = b"date: Thu, 01 Jan 1970 00:00:00 GMT\r\nserver: serve\r\nx-default: 1\r\n"


def head(
    status: int = 200,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    keep_alive: bool = True,
    flags: int = 0,
    final: int = -1,
) -> tuple[list[bytes], int, int, bool]:
    """encode_head, with the head split into lines (status line first, blank line dropped)."""
    raw, framing, length, kept = encode_head(status, headers or [], DEFAULTS, keep_alive, flags, final)
    assert raw.endswith(b"\r\n\r\n")
    return raw[:-4].split(b"\r\n"), framing, length, kept


# -- Status lines and header lines --------------------------------------------------------------


def test_status_lines() -> None:
    assert status_line(200) == b"HTTP/1.1 200 OK\r\n"
    assert status_line(404) == b"HTTP/1.1 404 Not Found\r\n"
    assert status_line(299) == b"HTTP/1.1 299 \r\n"
    assert status_line(299) is status_line(299)


@pytest.mark.parametrize("status", [99, 1000, -1])
def test_impossible_status_is_an_app_error(status: int) -> None:
    with pytest.raises(RuntimeError, match="invalid HTTP status"):
        status_line(status)


def test_header_lines() -> None:
    assert header_line(b"x-a", b"b c\t\xe9") == b"x-a: b c\t\xe9\r\n"
    assert header_line(b"X-Empty", b"") == b"X-Empty: \r\n"
    assert header_line(b"x-a", b"b c\t\xe9") is header_line(b"x-a", b"b c\t\xe9")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"x-a", b"a\r\nx-injected: yes"),
        (b"x-a", b"a\nx-injected: yes"),
        (b"x-a", b"a\rb"),
        (b"x-a", b"a\x00b"),
        (b"x-a", b"a\x7fb"),
        (b"x-injected: yes\r\nx-a", b"a"),
        (b"x a", b"b"),
        (b"x:a", b"b"),
        (b"", b"b"),
    ],
)
def test_header_lines_that_could_split_a_response_are_refused(name: bytes, value: bytes) -> None:
    with pytest.raises(RuntimeError, match="invalid response header"):
        header_line(name, value)


@pytest.mark.parametrize(("name", "value"), [("x-a", "b"), (b"x-a", "b"), (bytearray(b"x-a"), b"b"), (b"x-a", 1)])
def test_header_names_and_values_must_be_bytes(name: object, value: object) -> None:
    with pytest.raises(RuntimeError, match="must be bytes"):
        header_line(name, value)  # type: ignore[arg-type]


def test_the_header_line_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(response, "_LINES", {})
    monkeypatch.setattr(response, "_LINES_MAX", 3)
    for index in range(3):
        header_line(b"x-%d" % index, b"v")
    header_line(b"x-full", b"v")
    assert list(response._LINES) == [(b"x-full", b"v")]
    long_value = b"v" * response._LINE_CACHE_LEN
    assert header_line(b"x-long", long_value) == b"x-long: " + long_value + b"\r\n"
    assert (b"x-long", long_value) not in response._LINES


def test_the_content_length_lines_added_are_remembered_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(response, "_LENGTH_LINES", {})
    monkeypatch.setattr(response, "_LENGTH_LINES_MAX", 2)
    for length in (5, 7, 5, 9):
        head = encode_head(200, [], b"", True, 0, length)[0]
        assert b"\r\ncontent-length: %d\r\n" % length in head
    assert response._LENGTH_LINES == {9: b"content-length: 9\r\n"}  # full at two: cleared, then 9


# -- Framing ------------------------------------------------------------------------------------


def test_one_message_body_gets_a_content_length() -> None:
    lines, framing, length, kept = head(final=11)
    assert lines == [b"HTTP/1.1 200 OK", *DEFAULTS.rstrip().split(b"\r\n"), b"content-length: 11"]
    assert (framing, length, kept) == (LENGTH, 11, True)


def test_streamed_body_is_chunked() -> None:
    lines, framing, length, kept = head(headers=[(b"content-type", b"text/plain")])
    assert lines[-2:] == [b"content-type: text/plain", b"transfer-encoding: chunked"]
    assert (framing, length, kept) == (CHUNKED, -1, True)


def test_app_content_length_is_kept_and_counted() -> None:
    lines, framing, length, _ = head(headers=[(b"Content-Length", b" 42")], final=5)
    assert lines[-1] == b"Content-Length:  42"
    assert (framing, length) == (LENGTH, 42)


@pytest.mark.parametrize("value", [b"abc", b"-1", b"", b"1.5"])
def test_app_content_length_that_is_no_number_is_an_app_error(value: bytes) -> None:
    with pytest.raises(RuntimeError, match="invalid Content-Length"):
        head(headers=[(b"content-length", value)])


def test_app_transfer_encoding_chunked_is_kept() -> None:
    lines, framing, _, _ = head(headers=[(b"transfer-encoding", b"Chunked")])
    assert lines.count(b"transfer-encoding: Chunked") == 1
    assert not any(line.startswith(b"transfer-encoding: chunked") for line in lines)
    assert framing == CHUNKED


def test_app_transfer_encoding_other_than_chunked_is_close_delimited() -> None:
    # RFC 9112 §6.3: a final coding other than chunked leaves the close as the only end.
    lines, framing, length, kept = head(headers=[(b"transfer-encoding", b"gzip")], final=3)
    assert (framing, length, kept) == (CLOSE, -1, False)
    assert lines[-2:] == [b"transfer-encoding: gzip", b"connection: close"]
    assert not any(line.lower().startswith(b"content-length") for line in lines)


@pytest.mark.parametrize(
    ("headers", "framing"),
    [
        ([(b"Content-Length", b"5"), (b"Transfer-Encoding", b"chunked")], CHUNKED),
        ([(b"transfer-encoding", b"chunked"), (b"content-length", b"5")], CHUNKED),
        ([(b"content-length", b"5"), (b"transfer-encoding", b"gzip")], CLOSE),
        ([(b"content-length", b"5"), (b"transfer-encoding", b"gzip, chunked")], CHUNKED),
        ([(b"transfer-encoding", b"gzip"), (b"transfer-encoding", b"Chunked")], CHUNKED),
        ([(b"transfer-encoding", b"chunked, gzip")], CLOSE),
        ([(b"transfer-encoding", b" , chunked;x=1 ,")], CHUNKED),
    ],
    ids=[
        "length-then-chunked",
        "chunked-then-length",
        "length-gzip",
        "gzip-chunked",
        "two-fields",
        "chunked-gzip",
        "empty-items",
    ],
)
def test_transfer_encoding_wins_over_content_length(headers: list[tuple[bytes, bytes]], framing: int) -> None:
    lines, got, length, kept = head(headers=headers, final=5)
    assert (got, length, kept) == (framing, -1, framing == CHUNKED)
    assert not any(line.lower().startswith(b"content-length") for line in lines)
    app_lines = [name + b": " + value for name, value in headers if name.lower() == b"transfer-encoding"]
    assert [line for line in lines if line.lower().startswith(b"transfer-encoding")] == app_lines


@pytest.mark.parametrize("value", [b"chunked, chunked", b"", b" , ", b"gz ip", b"chunked;a, gzip, CHUNKED"])
def test_transfer_encoding_that_cannot_be_honoured_is_an_app_error(value: bytes) -> None:
    with pytest.raises(RuntimeError, match="invalid Transfer-Encoding"):
        head(headers=[(b"transfer-encoding", value), (b"content-length", b"5")], final=5)


def test_http_10_gets_no_transfer_encoding() -> None:
    # RFC 9112 §6.1: chunked is only framing, so it is left out and the body framed for 1.0.
    te_and_length = [(b"transfer-encoding", b"chunked"), (b"content-length", b"9")]
    lines, framing, length, kept = head(headers=te_and_length, flags=HTTP_10, final=5)
    assert (lines[-2:], framing, length, kept) == ([b"content-length: 5", b"connection: keep-alive"], LENGTH, 5, True)
    lines, framing, length, kept = head(headers=te_and_length, flags=HTTP_10)
    assert (framing, length, kept) == (CLOSE, -1, False)
    assert not any(line.lower().startswith((b"content-length", b"transfer-encoding")) for line in lines)


def test_http_10_cannot_be_sent_another_transfer_coding() -> None:
    with pytest.raises(RuntimeError, match=r"cannot be sent to an HTTP/1\.0 client"):
        head(headers=[(b"transfer-encoding", b"gzip, chunked")], flags=HTTP_10, final=5)
    # No body goes out with a HEAD answer: the header is left out, the rest is as for GET.
    lines, framing, _, _ = head(headers=[(b"transfer-encoding", b"gzip")], flags=HTTP_10 | HEAD_REQUEST)
    assert framing == NO_BODY
    assert not any(line.lower().startswith(b"transfer-encoding") for line in lines)


@pytest.mark.parametrize(("status", "flags"), [(200, HEAD_REQUEST), (304, 0)], ids=["head", "304"])
def test_transfer_encoding_may_describe_a_body_not_sent(status: int, flags: int) -> None:
    # RFC 9112 §6.1: HEAD and 304 may say what GET would have been sent with; still never both.
    headers = [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")]
    lines, framing, length, kept = head(status, headers, flags=flags, final=0)
    assert (framing, length, kept) == (NO_BODY, -1, True)
    assert b"transfer-encoding: chunked" in lines
    assert not any(line.startswith(b"content-length") for line in lines)


@pytest.mark.parametrize("status", [101, 204])
@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-length", b"5")],
        [(b"transfer-encoding", b"chunked")],
        [(b"Content-Length", b"0"), (b"Transfer-Encoding", b"gzip")],
    ],
    ids=["length", "chunked", "both"],
)
def test_1xx_and_204_never_say_a_length(status: int, headers: list[tuple[bytes, bytes]]) -> None:
    # RFC 9110 §8.6 and RFC 9112 §6.1: a sender must not send either in a 1xx or 204.
    lines, framing, _, _ = head(status, [(b"x-kept", b"1"), *headers], final=0)
    assert framing == NO_BODY
    assert b"x-kept: 1" in lines
    assert not any(line.lower().startswith((b"content-length", b"transfer-encoding")) for line in lines)


def test_304_keeps_the_length_get_would_have() -> None:
    lines, framing, _, _ = head(304, [(b"content-length", b"26")], final=0)
    assert (b"content-length: 26" in lines, framing) == (True, NO_BODY)


def test_a_repeated_content_length() -> None:
    lines, framing, length, _ = head(headers=[(b"content-length", b"5"), (b"Content-Length", b" 5 ")], final=5)
    assert [line for line in lines if line.lower().startswith(b"content-length")] == [b"content-length: 5"]
    assert (framing, length) == (LENGTH, 5)
    with pytest.raises(RuntimeError, match="differing Content-Length values 5 and 6"):
        head(headers=[(b"content-length", b"5"), (b"content-length", b"6")], final=5)
    with pytest.raises(RuntimeError, match="invalid Content-Length"):
        head(headers=[(b"content-length", b"5"), (b"content-length", b"5, 5")], final=5)


STATUSES = (101, 200, 204, 304, 404)
FLAG_SETS = (0, HEAD_REQUEST, HTTP_10, HTTP_10 | HEAD_REQUEST)
APP_HEADERS: tuple[list[tuple[bytes, bytes]], ...] = (
    [],
    [(b"content-length", b"5")],
    [(b"transfer-encoding", b"chunked")],
    [(b"transfer-encoding", b"gzip")],
    [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")],
    [(b"transfer-encoding", b"gzip, chunked"), (b"content-length", b"5")],
)


@pytest.mark.parametrize("final", [-1, 5])
@pytest.mark.parametrize("headers", APP_HEADERS, ids=lambda h: "+".join(n.decode() for n, _ in h) or "none")
@pytest.mark.parametrize("flags", FLAG_SETS, ids=["get", "head", "get-1.0", "head-1.0"])
@pytest.mark.parametrize("status", STATUSES)
def test_never_both_and_a_body_only_where_one_may_be(
    status: int, flags: int, headers: list[tuple[bytes, bytes]], final: int
) -> None:
    if flags == HTTP_10 and status in (200, 404) and any(b"gzip" in value for _, value in headers):
        with pytest.raises(RuntimeError, match=r"HTTP/1\.0"):  # the one combination no client can be sent
            head(status, headers, flags=flags, final=final)
        return
    lines, framing, _, kept = head(status, headers, flags=flags, final=final)
    names = [line.split(b":")[0].lower() for line in lines[1:]]
    assert not (b"content-length" in names and b"transfer-encoding" in names)
    assert names.count(b"content-length") <= 1
    if flags & HTTP_10:
        assert b"transfer-encoding" not in names
    if status < 200 or status == 204:
        assert b"content-length" not in names
        assert b"transfer-encoding" not in names
    assert (framing == NO_BODY) == (status in (101, 204, 304) or bool(flags & HEAD_REQUEST))
    if framing == CLOSE:
        assert not kept
    if framing == CHUNKED:
        assert b"transfer-encoding" in names
    if framing == LENGTH:
        assert b"content-length" in names


@pytest.mark.parametrize("status", [100, 103, 204, 304])
def test_statuses_without_a_body(status: int) -> None:
    lines, framing, length, _ = head(status, final=10)
    assert (framing, length) == (NO_BODY, -1)
    assert not any(line.startswith((b"content-length", b"transfer-encoding")) for line in lines)


def test_head_has_the_length_get_would_have_and_no_body() -> None:
    lines, framing, length, _ = head(flags=HEAD_REQUEST, final=26)
    assert (lines[-1], framing, length) == (b"content-length: 26", NO_BODY, 26)
    lines, framing, length, _ = head(headers=[(b"content-length", b"7")], flags=HEAD_REQUEST, final=0)
    assert (lines[-1], framing, length) == (b"content-length: 7", NO_BODY, 7)


def test_head_of_a_streamed_response_has_neither_length_nor_chunked() -> None:
    lines, framing, length, kept = head(flags=HEAD_REQUEST)
    assert not any(line.startswith((b"content-length", b"transfer-encoding")) for line in lines)
    assert (framing, length, kept) == (NO_BODY, -1, True)


def test_http_10_streamed_body_runs_until_close() -> None:
    lines, framing, length, kept = head(flags=HTTP_10)
    assert (lines[-1], framing, length, kept) == (b"connection: close", CLOSE, -1, False)
    lines, framing, _, kept = head(flags=HTTP_10 | HEAD_REQUEST)
    assert (framing, kept) == (NO_BODY, True)
    assert lines[-1] == b"connection: keep-alive"


def test_http_10_keep_alive_is_said_out_loud() -> None:
    lines, framing, _, kept = head(flags=HTTP_10, final=1)
    assert (lines[-1], framing, kept) == (b"connection: keep-alive", LENGTH, True)
    lines, _, _, kept = head(flags=HTTP_10, final=1, keep_alive=False)
    assert (lines[-1], kept) == (b"connection: close", False)


def test_app_connection_header_is_replaced_by_the_decision() -> None:
    lines, _, _, kept = head(headers=[(b"Connection", b"Close")], final=0)
    assert (lines.count(b"connection: close"), b"Connection: Close" in lines, kept) == (1, False, False)
    lines, _, _, kept = head(headers=[(b"connection", b"keep-alive")], final=0)
    assert (any(line.startswith(b"connection") for line in lines), kept) == (False, True)
    lines, _, _, kept = head(headers=[(b"connection", b"keep-alive")], final=0, keep_alive=False)
    assert (lines[-1], kept) == (b"connection: close", False)


def test_app_server_and_date_replace_the_defaults() -> None:
    lines, _, _, _ = head(headers=[(b"Server", b"mine"), (b"date", b"today")], final=0)
    assert lines == [b"HTTP/1.1 200 OK", b"x-default: 1", b"Server: mine", b"date: today", b"content-length: 0"]


# -- Chunks and the server's own answers --------------------------------------------------------


def test_chunks() -> None:
    assert encode_chunk(b"") == b""
    assert encode_chunk(b"hello") == b"5\r\nhello\r\n"
    assert encode_chunk(b"x" * 255) == b"ff\r\n" + b"x" * 255 + b"\r\n"


def test_simple_response() -> None:
    assert simple_response(400, b"bad", b"server: serve\r\n") == (
        b"HTTP/1.1 400 Bad Request\r\nserver: serve\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: 3\r\nconnection: close\r\n\r\nbad"
    )
