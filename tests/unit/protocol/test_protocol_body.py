"""body.py: the one chunked grammar both fronts use (RFC 9112 §7.1), and fixed-length bodies."""

from __future__ import annotations

import pytest

from supervisor.errors import ParseError
from supervisor.protocol.body import ChunkedBody, LengthBody

LIMIT = 256
AFTER = b"GET /next HTTP/1.1\r\n"


def decode(data: bytes, *, piece: int = 0, limit: int = LIMIT) -> tuple[bytes, bytes]:
    """Feed `data` whole (or in `piece`-byte pieces): (the body, the bytes after it)."""
    got: list[bytes] = []
    body = ChunkedBody(got.append, max_line=limit)
    pieces = [data] if not piece else [data[i : i + piece] for i in range(0, len(data), piece)]
    for index, chunk in enumerate(pieces):
        end = body.feed(chunk)
        if end >= 0:
            return b"".join(got), chunk[end:] + b"".join(pieces[index + 1 :])
    raise AssertionError(f"body not complete; got {got!r}")


def feed_pieces(body: ChunkedBody, pieces: list[bytes]) -> None:
    for piece in pieces:
        body.feed(piece)


@pytest.mark.parametrize(
    "line",
    [
        b"5",
        b"0005",
        b"5;name",
        b"5;name=value",
        b'5;name="quoted \\" value;="',
        b"5 ;name=value",  # RFC 9112 §7.1.1: BWS before ";"
        b"5\t; name = value",
        b'5 ; a ; b=c\t;\td = "e"',
        b'5;n="caf\xe9"',  # obs-text in a quoted value
    ],
)
@pytest.mark.parametrize("piece", [0, 1, 3], ids=["whole", "bytewise", "3-byte-pieces"])
def test_chunk_lines_the_rfc_allows(line: bytes, piece: int) -> None:
    data = line + b'\r\nhello\r\n0 ; last = "one"\r\n\r\n' + AFTER
    assert decode(data, piece=piece) == (b"hello", AFTER)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"5 ", "whitespace with no extension after it (RFC 9112 §7.1: only around ';')"),
        (b"5\t", "a tab, the same"),
        (b"5;a=b ", "whitespace after the last extension"),
        (b" 5", "whitespace before the size"),
        (b"5;", "a ';' with no name"),
        (b"5;a=", "an '=' with no value"),
        (b"5;@", "a name that is no token"),
        (b"5;a=b c", "a value that is no token"),
        (b'5;a="b', "an unterminated quoted value"),
        (b"5;a\rb", "a bare CR"),
        (b"5;a\x00", "a NUL"),
        (b"x", "no hex digits"),
        (b"-5", "a sign"),
        (b"0x5", "a 0x prefix"),
        (b"", "an empty line"),
        (b"1" + b"0" * 16, "past 64 bits"),
    ],
)
def test_chunk_lines_refused(line: bytes, why: str) -> None:
    with pytest.raises(ParseError) as refused:
        decode(line + b"\r\nhello\r\n0\r\n\r\n")
    assert refused.value.status == 400, why


def test_a_size_of_64_bits_with_leading_zeros_is_a_size() -> None:
    body = ChunkedBody(lambda _: None, max_line=LIMIT)
    assert body.feed(b"0000000000000000000000ffffffffffffffff\r\nabc") == -1


@pytest.mark.parametrize(
    "data",
    [
        b"5\nhello\r\n0\r\n\r\n",  # bare LF ending the size line
        b"5\r\nhello\n0\r\n\r\n",  # bare LF after the data
        b"5\r\nhelloX\r\n0\r\n\r\n",  # data longer than its size
        b"5\r\nhell\r\n0\r\n\r\n",  # shorter: the CRLF lands inside the data
        b"5\r\nhello\r\n0\r\nbad trailer\r\n\r\n",
        b"5\r\nhello\r\n0\r\n folded: no\r\n\r\n",
        b"5\r\nhello\r\n0\r\nx: a\rb\r\n\r\n",
        b"5\r\nhello\r\n0\r\n\n",
    ],
)
def test_framing_errors(data: bytes) -> None:
    with pytest.raises(ParseError) as refused:
        decode(data)
    assert refused.value.status == 400


def test_trailers_are_read_and_dropped() -> None:
    data = b"3\r\nabc\r\n0\r\nX-Checksum: 1\r\nX-Empty:\r\nX-Obs: caf\xe9\r\n\r\n" + AFTER
    assert decode(data) == (b"abc", AFTER)
    assert decode(data, piece=1) == (b"abc", AFTER)


def test_a_size_line_past_the_limit_is_refused_while_it_arrives() -> None:
    body = ChunkedBody(lambda _: None, max_line=32)
    body.feed(b"5;name=")
    with pytest.raises(ParseError) as refused:
        feed_pieces(body, [b"v" * 8] * 10)
    assert (refused.value.status, refused.value.reason) == (400, "chunk size line too long")
    with pytest.raises(ParseError):
        ChunkedBody(lambda _: None, max_line=32).feed(b"5;name=" + b"v" * 32 + b"\r\n")


def test_trailers_past_the_limit_are_431() -> None:
    body = ChunkedBody(lambda _: None, max_line=64)
    body.feed(b"0\r\n" + b"X-A: 1\r\n" * 7)
    with pytest.raises(ParseError) as refused:
        body.feed(b"X-Endless: " + b"a" * 40)
    assert refused.value.status == 431
    body = ChunkedBody(lambda _: None, max_line=64)
    with pytest.raises(ParseError) as refused:
        body.feed(b"0\r\n" + b"X-A: 1\r\n" * 9)
    assert refused.value.status == 431


def test_large_chunks_arrive_in_the_pieces_they_came_in() -> None:
    got: list[bytes] = []
    body = ChunkedBody(got.append, max_line=LIMIT)
    assert body.feed(b"x" * 3 + b"a\r\n" + b"y" * 4, 3) == -1  # a start offset: bytes before it are not the body's
    assert body.feed(b"z" * 6) == -1
    assert body.feed(b"\r\n0\r\n\r\nrest") == 7
    assert got == [b"yyyy", b"zzzzzz"]


def test_length_body() -> None:
    got: list[bytes] = []
    body = LengthBody(got.append, 5)
    assert body.feed(b"xxab", 2) == -1
    assert body.feed(b"cdeGET") == 3
    assert got == [b"ab", b"cde"]
    assert LengthBody(got.append, 0).feed(b"GET", 0) == 0
