"""Both parser fronts, driven with bytes and a recording sink: the same requests give the same calls."""

from __future__ import annotations

import random
from typing import Any

import pytest
from protocol_recorder import MakeFront, Recorder

from supervisor._types import Headers
from supervisor.errors import ParseError
from supervisor.protocol.base import Front
from supervisor.protocol.front_h11 import H11Front
from supervisor.protocol.front_httptools import _body_start
from supervisor.protocol.request import SERVED_METHODS

GET = b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-Mixed-Case: Value\r\n\r\n"
POST = b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world"
CHUNKED = (
    b"POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\nX-Other: o\r\n\r\n"
)


Seen = tuple[bytes, bytes, str, list[tuple[bytes, bytes]], bytes, bool]


def feed_all(front: Front, *pieces: bytes) -> None:
    for data in pieces:
        front.feed(data)


def summary(front_and_recorder: tuple[Front, Recorder], *pieces: bytes) -> list[Seen]:
    """Feed `pieces` in turn; (method, target, version, headers, body, complete) of each request seen."""
    front, recorder = front_and_recorder
    feed_all(front, *pieces)
    return [(r.method, r.target, r.http_version, r.headers, r.body, r.complete) for r in recorder.requests]


def test_a_request_head(make_front: MakeFront) -> None:
    assert summary(make_front(), GET) == [
        (b"GET", b"/a?b=c", "1.1", [(b"host", b"example.com"), (b"x-mixed-case", b"Value")], b"", True)
    ]


def test_pipelined_requests_in_one_feed(make_front: MakeFront) -> None:
    got = summary(make_front(), GET + POST + CHUNKED + GET)
    assert [(method, body, complete) for method, _, _, _, body, complete in got] == [
        (b"GET", b"", True),
        (b"POST", b"hello world", True),
        (b"POST", b"hello world", True),
        (b"GET", b"", True),
    ]


@pytest.mark.parametrize(
    "request_bytes", [GET, POST, CHUNKED, GET + POST + CHUNKED], ids=["get", "post", "chunked", "all"]
)
def test_byte_by_byte_is_the_same_as_all_at_once(make_front: MakeFront, request_bytes: bytes) -> None:
    whole = summary(make_front(), request_bytes)
    bytewise = summary(make_front(), *(request_bytes[i : i + 1] for i in range(len(request_bytes))))
    assert bytewise == whole


def test_trailers_belong_to_no_request(make_front: MakeFront) -> None:
    got = summary(make_front(), CHUNKED + b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    assert got[0][3] == [(b"host", b"t"), (b"transfer-encoding", b"chunked")]
    assert got[1][3] == [(b"host", b"t")]


def test_header_values_lose_surrounding_whitespace(make_front: MakeFront) -> None:
    raw = b"GET / HTTP/1.1\r\nHost: t\r\nX-A: \t a b \t\r\nX-Empty:  \r\nX-Obs: caf\xe9\r\n\r\n"
    assert summary(make_front(), raw)[0][3] == [
        (b"host", b"t"),
        (b"x-a", b"a b"),
        (b"x-empty", b""),
        (b"x-obs", b"caf\xe9"),
    ]


def test_http_10_without_host(make_front: MakeFront) -> None:
    assert summary(make_front(), b"GET / HTTP/1.0\r\n\r\n")[0][2] == "1.0"


def test_body_in_pieces_across_feeds(make_front: MakeFront) -> None:
    front, recorder = make_front()
    front.feed(POST[:-6])
    assert recorder.requests[0].body == b"hello"
    assert not recorder.requests[0].complete
    front.feed(POST[-6:])
    assert (recorder.requests[0].body, recorder.requests[0].complete) == (b"hello world", True)


# -- Head size ------------------------------------------------------------------------------------

LIMIT = 1024


@pytest.mark.parametrize(
    "head",
    [
        b"GET /" + b"a" * LIMIT + b" HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * LIMIT + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Many: v\r\n" * (LIMIT // 8) + b"\r\n",
    ],
    ids=["target", "one-header", "many-headers"],
)
def test_oversized_head_in_one_piece_is_431(make_front: MakeFront, head: bytes) -> None:
    front, recorder = make_front(max_head_size=LIMIT)
    with pytest.raises(ParseError) as refused:
        front.feed(head)
    assert refused.value.status == 431
    assert recorder.requests == []


@pytest.mark.parametrize(
    "start",
    [b"GET /", b"GET / HTTP/1.1\r\nHost: t\r\nX-Endless: ", b"GET / HTTP/1.1\r\nX-"],
    ids=["target", "value", "name"],
)
def test_head_that_never_ends_is_431_once_past_the_limit(make_front: MakeFront, start: bytes) -> None:
    front, _ = make_front(max_head_size=LIMIT)
    with pytest.raises(ParseError) as refused:
        feed_all(front, start, *[b"a" * 100] * (4 * LIMIT // 100))  # the limit and then some
    assert refused.value.status == 431


def test_trailer_that_never_ends_is_431_once_past_the_limit(make_front: MakeFront) -> None:
    front, _ = make_front(max_head_size=LIMIT)
    front.feed(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Endless: ")
    with pytest.raises(ParseError) as refused:
        feed_all(front, *[b"a" * 100] * (4 * LIMIT // 100))
    assert refused.value.status == 431


def test_head_under_the_limit_in_small_pieces_is_served(make_front: MakeFront) -> None:
    head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: " + b"v" * (LIMIT - 100) + b"\r\n\r\n"
    got = summary(make_front(max_head_size=LIMIT), *(head[i : i + 10] for i in range(0, len(head), 10)))
    assert got[0][3][1] == (b"x-long", b"v" * (LIMIT - 100))


def test_a_large_body_before_a_head_does_not_count_toward_it(make_front: MakeFront) -> None:
    body = b"x" * (4 * LIMIT)
    first = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    second = b"GET /second HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * (LIMIT // 2) + b"\r\n\r\n"
    got = summary(make_front(max_head_size=LIMIT), first + second[:20], second[20:40], second[40:])
    assert [target for _, target, _, _, _, _ in got] == [b"/", b"/second"]


# -- Errors -------------------------------------------------------------------------------------


def test_garbage_is_400(make_front: MakeFront) -> None:
    front, _ = make_front()
    with pytest.raises(ParseError) as refused:
        front.feed(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n")
    assert refused.value.status == 400


def test_a_parse_error_from_the_sink_comes_out_as_it_is(make_front: MakeFront) -> None:
    front, recorder = make_front()
    refusal = ParseError(418, "refused by the sink")

    def refuse(*args: object) -> None:
        raise refusal

    recorder.on_request = refuse  # type: ignore[method-assign, assignment]
    front_type: Any = type(front)  # a concrete front; the Front protocol declares no constructor
    front = front_type(recorder, max_head_size=65536)
    with pytest.raises(ParseError) as refused:
        front.feed(GET)
    assert refused.value is refusal


def test_a_request_refused_after_a_good_one(make_front: MakeFront) -> None:
    front, recorder = make_front()
    with pytest.raises(ParseError):
        front.feed(GET + b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n folded\r\n\r\n")
    assert [r.target for r in recorder.requests] == [b"/a?b=c"]


def test_other_errors_from_the_sink_are_not_hidden(make_front: MakeFront) -> None:
    front, recorder = make_front()
    boom = ValueError("a bug in the sink")

    def explode(*args: object) -> None:
        raise boom

    recorder.on_request = explode  # type: ignore[method-assign, assignment]
    front_type: Any = type(front)
    front = front_type(recorder, max_head_size=65536)
    with pytest.raises(Exception) as raised:
        front.feed(GET)
    assert raised.value is boom or raised.value.__context__ is boom


def test_transfer_encoding_h11_would_answer_501_is_400() -> None:
    front = H11Front(_NullSink(), max_head_size=65536)
    with pytest.raises(ParseError) as refused:
        front.feed(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n")
    assert refused.value.status == 400


def test_chunk_size_line_that_never_ends_is_refused_once_past_the_limit(make_front: MakeFront) -> None:
    # A chunk-size line is buffered whole (body.py), so it is bounded like a head; it is no
    # header field, hence 400 rather than 431.
    front, _ = make_front(max_head_size=64)
    front.feed(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;a=")
    with pytest.raises(ParseError) as refused:
        feed_all(front, *[b"b" * 10] * 10)
    assert refused.value.status == 400


@pytest.mark.parametrize(
    "pieces",
    [
        (b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n", b" b\r\n\r\n"),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r", b"\n\tb\r\n\r\n"),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a", b"\r\n b\r\n\r\n"),
    ],
    ids=["fold-after-crlf", "fold-after-cr", "fold-at-crlf"],
)
def test_obs_fold_split_across_feeds_is_400(make_front: MakeFront, pieces: tuple[bytes, ...]) -> None:
    front, _ = make_front()
    with pytest.raises(ParseError) as refused:
        feed_all(front, *pieces)
    assert refused.value.status == 400


def test_head_end_split_across_feeds(make_front: MakeFront) -> None:
    got = summary(make_front(), b"GET / HTTP/1.1\r\nHost: t\r\n\r", b"\nGET /2 HTTP/1.1\r\nHost: t\r", b"\n\r\n")
    assert [target for _, target, _, _, _, _ in got] == [b"/", b"/2"]


def test_content_length_rules_see_what_h11_merges() -> None:
    for lengths in (b"Content-Length: 5\r\nContent-Length: 5\r\n", b"Content-Length: 5, 5\r\n"):
        front = H11Front(_NullSink(), max_head_size=65536)
        with pytest.raises(ParseError) as refused:
            front.feed(b"POST / HTTP/1.1\r\nHost: t\r\n" + lengths + b"\r\nhello")
        assert refused.value.status == 400


# -- Bytes llhttp refuses and h11 took ----------------------------------------------------------

SMUGGLED = b"POST / HTTP/1.1\r\nHost: a\r\nX: y\nContent-Length: 5\r\n\r\nhelloGET /second HTTP/1.1\r\nHost: a\r\n\r\n"


@pytest.mark.parametrize(
    "pieces",
    [
        (SMUGGLED,),  # h11 split the line at the LF and served both requests
        (SMUGGLED[:30], SMUGGLED[30:]),  # cut just after "X: y"
        (SMUGGLED[:31], SMUGGLED[31:]),  # cut just after the bare LF
        (b"GET /a HTTP/1.1\nHost: a\n\n",),
        (b"GET /a HTTP/1.1\r\nHost: a\n\r\n",),
        (b"GET /a HTTP/1.1\r\nHost: a\r\n\n",),
        (b"GET /a HTTP/1.1\r\nHost: a\r\n", b"\n"),
    ],
    ids=[
        "hidden-length",
        "cut-before-lf",
        "cut-after-lf",
        "lf-only",
        "lf-ending-a-field",
        "lf-ending-the-head",
        "lf-fed-last",
    ],
)
def test_a_bare_lf_in_a_head_is_400(make_front: MakeFront, pieces: tuple[bytes, ...]) -> None:
    front, recorder = make_front()
    with pytest.raises(ParseError) as refused:
        feed_all(front, *pieces)
    assert refused.value.status == 400
    assert recorder.requests == []


def test_crlf_cut_between_feeds_is_no_bare_lf(make_front: MakeFront) -> None:
    got = summary(make_front(), b"GET / HTTP/1.1\r", b"\nHost: t\r", b"\nX: y\r", b"\n\r", b"\n")
    assert [(target, headers) for _, target, _, headers, _, _ in got] == [(b"/", [(b"host", b"t"), (b"x", b"y")])]


@pytest.mark.parametrize("value", [b"a\x01b", b"a\x7f", b"\x1b[31m", b"a\x00", b"a\x0cb"])
@pytest.mark.parametrize("split", [0, 1], ids=["whole", "bytewise"])
def test_control_bytes_in_a_field_value_are_400(make_front: MakeFront, value: bytes, split: int) -> None:
    # RFC 9110 §5.5: a field value holds no CTL but HTAB, and no DEL.
    data = b"GET / HTTP/1.1\r\nHost: t\r\nX: " + value + b"\r\n\r\n"
    front, recorder = make_front()
    with pytest.raises(ParseError) as refused:
        feed_all(front, *([data[i : i + 1] for i in range(len(data))] if split else [data]))
    assert refused.value.status == 400
    assert recorder.requests == []


def test_htab_and_obs_text_in_a_field_value_are_served(make_front: MakeFront) -> None:
    got = summary(make_front(), b"GET / HTTP/1.1\r\nHost: t\r\nX: a\tb\x80\xff\r\n\r\n")
    assert [headers for _, _, _, headers, _, _ in got] == [[(b"host", b"t"), (b"x", b"a\tb\x80\xff")]]


@pytest.mark.parametrize("method", [b"GET", b"OPTIONS", b"POST"])
def test_authority_form_on_a_method_but_connect_is_400(make_front: MakeFront, method: bytes) -> None:
    # RFC 9112 §3.2.3: llhttp refuses the request line; the h11 front does so by request.py.
    front, recorder = make_front()
    with pytest.raises(ParseError) as refused:
        front.feed(method + b" example.com:80 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
    assert refused.value.status == 400
    assert recorder.requests == []


def test_an_invalid_host_is_400(make_front: MakeFront) -> None:
    front, recorder = make_front()
    with pytest.raises(ParseError) as refused:
        front.feed(b"GET / HTTP/1.1\r\nHost: a b/../[x\r\n\r\n")
    assert refused.value.status == 400
    assert recorder.requests == []


# -- Upgrade and CONNECT ------------------------------------------------------------------------

UPGRADE = b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
CONNECT = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
NEXT = b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.mark.parametrize("head", [UPGRADE, CONNECT], ids=["upgrade", "connect"])
def test_an_upgrade_the_sink_declines_is_served_as_http(make_front: MakeFront, head: bytes) -> None:
    front, recorder = make_front()
    front.feed(head + NEXT)
    assert recorder.upgrades == [NEXT]
    assert [(r.target, r.complete) for r in recorder.requests] == [(head.split()[1], True), (b"/next", True)]


def test_an_upgrade_declined_with_nothing_after_it(make_front: MakeFront) -> None:
    front, recorder = make_front()
    front.feed(UPGRADE)
    front.feed(NEXT)
    assert recorder.upgrades == [b""]
    assert [r.target for r in recorder.requests] == [b"/ws", b"/next"]


def test_an_upgrade_the_sink_takes_over_stops_the_front(make_front: MakeFront) -> None:
    front, recorder = make_front(take_over_upgrades=True)
    front.feed(UPGRADE + b"\x81\x05hello")
    assert recorder.upgrades == [b"\x81\x05hello"]
    assert [r.target for r in recorder.requests] == [b"/ws"]


SMUGGLED = NEXT[:-2] + b"X-In: body\r\n\r\n"  # a whole request, as the body of another


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: %d\r\n\r\n%s" % (len(SMUGGLED), SMUGGLED),
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED),
    ],
    ids=["length", "chunked"],
)
@pytest.mark.parametrize("split", [0, 1, 7], ids=["whole", "bytewise", "7-byte-pieces"])
def test_the_body_of_an_upgrade_request_is_its_body(make_front: MakeFront, framing: bytes, split: int) -> None:
    # llhttp skips the body of a request that asks to switch protocols; parsed as the next
    # request it would smuggle one past any proxy that read it as the body it is.
    data = b"POST /up HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: h2c\r\n" + framing + NEXT
    pieces = [data] if not split else [data[i : i + split] for i in range(0, len(data), split)]
    got = summary(make_front(), *pieces)
    assert [(target, body, complete) for _, target, _, _, body, complete in got] == [
        (b"/up", SMUGGLED, True),
        (b"/next", b"", True),
    ]


def test_an_upgrade_taken_over_after_its_body(make_front: MakeFront) -> None:
    front, recorder = make_front(take_over_upgrades=True)
    head = b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 4\r\n\r\n"
    front.feed(head + b"body\x81\x05hello")
    assert recorder.upgrades == [b"\x81\x05hello"]
    assert [(r.target, r.body, r.complete) for r in recorder.requests] == [(b"/ws", b"body", True)]
    assert recorder.calls == ["request", "body", "complete", "upgrade"]


# -- Chunk grammar and methods, the same on both fronts ------------------------------------------


@pytest.mark.parametrize(
    "line",
    [b"5 ;name=value", b"5 ; name = value", b'5\t;\tname="v;a=l"', b"5;a;b=c ;d"],
    ids=["bws-before", "bws-around", "tabs-quoted", "several"],
)
@pytest.mark.parametrize("split", [0, 1], ids=["whole", "bytewise"])
def test_chunk_extensions_with_whitespace_are_read(make_front: MakeFront, line: bytes, split: int) -> None:
    # RFC 9112 §7.1.1: BWS around ";" and "="; RFC 9110 §5.6.3: a recipient must accept it.
    data = (
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        + line
        + b"\r\nhello\r\n0 ; end\r\n\r\n"
        + NEXT
    )
    pieces = [data] if not split else [data[i : i + 1] for i in range(len(data))]
    got = summary(make_front(), *pieces)
    assert [(target, body, complete) for _, target, _, _, body, complete in got] == [
        (b"/", b"hello", True),
        (b"/next", b"", True),
    ]


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"FOOBAR / HTTP/1.1", 501),
        (b"get / HTTP/1.1", 501),
        (b"DESCRIBE / HTTP/1.1", 501),  # llhttp knows it, for RTSP only
        (b"GETX / HTTP/1.1", 501),  # llhttp reads GET before it stops
        (b"G@T / HTTP/1.1", 400),
        (b"FOO\x00 / HTTP/1.1", 400),
        (b"PRI * HTTP/2.0", 505),
    ],
)
@pytest.mark.parametrize("split", [0, 1], ids=["whole", "bytewise"])
def test_methods_neither_front_serves(make_front: MakeFront, request_line: bytes, status: int, split: int) -> None:
    data = GET + request_line + b"\r\nHost: t\r\n\r\n" + NEXT
    front, recorder = make_front()
    with pytest.raises(ParseError) as refused:
        feed_all(front, *([data] if not split else [data[i : i + 1] for i in range(len(data))]))
    assert refused.value.status == status
    assert [r.target for r in recorder.requests] == [b"/a?b=c"]


@pytest.mark.parametrize("method", sorted(SERVED_METHODS))
def test_methods_both_fronts_serve(make_front: MakeFront, method: bytes) -> None:
    target = b"example.com:443" if method == b"CONNECT" else b"/"
    got = summary(make_front(), method + b" " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n" + NEXT)
    assert [m for m, _, _, _, _, _ in got] == [method, b"GET"]


def random_pipeline(rnd: random.Random) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Requests of every framing, bodies that look like requests; (bytes, [(target, body)])."""
    requests, expected = [], []
    for index in range(rnd.randint(1, 5)):
        target = b"/r%d" % index
        body = rnd.choice(
            [b"", b"\r\n\r\nGET /evil HTTP/1.1\r\nHost: t\r\n\r\n", b"0\r\n\r\n", bytes(rnd.randbytes(9))]
        )
        head = b"POST " + target + b" HTTP/1.1\r\nHost: t\r\n"
        if rnd.random() < 0.3:
            head += b"Connection: upgrade\r\nUpgrade: h2c\r\n"
        kind = rnd.randrange(4)
        if kind == 0:
            request, body = b"\r\n" * rnd.randint(0, 2) + b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n", b""
        elif kind == 1:
            request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        else:
            chunks = b"".join(
                b"%x%s\r\n%s\r\n" % (len(c), rnd.choice([b"", b" ; x = y"]), c) for c in (body[:4], body[4:]) if c
            )
            request = head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\nX-T: 1\r\n\r\n"
        requests.append(request)
        expected.append((target, body))
    return b"".join(requests), expected


@pytest.mark.parametrize("seed", range(8))
def test_random_pipelines_cut_anywhere(make_front: MakeFront, seed: int) -> None:
    # The httptools front finds where llhttp stopped by walking the bytes (front_httptools.py):
    # any cut must give what the whole stream gives, which must be what was sent.
    rnd = random.Random(seed)
    for _ in range(40):
        data, expected = random_pipeline(rnd)
        cuts = sorted(rnd.sample(range(1, len(data)), min(rnd.choice([1, 2, 5]), len(data) - 1)))
        pieces = [data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        got = summary(make_front(), *pieces)
        assert [(target, body) for _, target, _, _, body, complete in got if complete] == expected, pieces


def test_a_method_that_never_ends_is_431_once_past_the_limit(make_front: MakeFront) -> None:
    front, _ = make_front(max_head_size=LIMIT)
    with pytest.raises(ParseError) as refused:
        feed_all(front, b"F", *[b"O" * 100] * (4 * LIMIT // 100))
    assert refused.value.status == 431


# -- The walk: where llhttp stopped, from the heads it completed -----------------------------------

HEAD_A = b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n"
HEAD_B = b"POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
A_HEADERS = [(b"host", b"t"), (b"content-length", b"3")]
B_HEADERS = [(b"host", b"t"), (b"transfer-encoding", b"chunked")]


@pytest.mark.parametrize(
    ("data", "heads", "body_left", "tail", "start"),
    [
        (HEAD_B + b"5\r\n", [B_HEADERS], 0, b"", len(HEAD_B)),
        (b"\r\n\n" + HEAD_B, [B_HEADERS], 0, b"", 3 + len(HEAD_B)),  # empty lines before it
        (b"xy" + HEAD_B, [B_HEADERS], 2, b"", 2 + len(HEAD_B)),  # the end of an earlier body first
        (HEAD_A + b"\r\n\r\n" + HEAD_B, [A_HEADERS, B_HEADERS], 0, b"", len(HEAD_A) + 4 + len(HEAD_B)),
        (b"\n5\r\n", [B_HEADERS], 0, b"d\r\n\r", 1),  # the empty line cut across two feeds
        (b"ed\r\n\r\n", [B_HEADERS], 0, b"ked", 6),  # a head begun in an earlier feed
    ],
    ids=[
        "alone",
        "after-empty-lines",
        "after-a-body",
        "after-a-request-whose-body-looks-like-a-head-end",
        "cut-crlf",
        "cut-head",
    ],
)
def test_body_start(data: bytes, heads: list[Headers], body_left: int, tail: bytes, start: int) -> None:
    assert _body_start(data, heads, body_left, tail) == start


@pytest.mark.parametrize(
    ("data", "heads"),
    [
        (b"GET / HTTP/1.1\r\n", [A_HEADERS]),
        (HEAD_B, []),
        (HEAD_A + b"abc" + HEAD_B, [[(b"content-length", b"x")], B_HEADERS]),
    ],
    ids=["no-head-end", "no-head", "no-length"],
)
def test_body_start_refuses_rather_than_guesses(data: bytes, heads: list[Headers]) -> None:
    # Unreachable after llhttp completed the heads, and request.py checked them: a 400 if ever.
    with pytest.raises(ParseError) as refused:
        _body_start(data, heads, 0, b"")
    assert (refused.value.status, refused.value.reason) in {
        (400, "request framing lost"),
        (400, "invalid Content-Length"),
    }


class _NullSink:
    def on_request(self, method: bytes, target: bytes, http_version: str, headers: list[tuple[bytes, bytes]]) -> None:
        pass

    def on_body(self, chunk: bytes) -> None:
        pass

    def on_message_complete(self) -> None:
        pass

    def on_upgrade(self, trailing: bytes) -> bool:
        return False
