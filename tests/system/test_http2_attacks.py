"""The rows of the HTTP/2 attack table (docs/http2.md, "Attacks and defences") no other test covers.

Against a real `serve run --http2` with small budgets (those of test_http2_limits.py). As
there, each abuse must end only its own connection, with the RFC's or ENHANCE_YOUR_CALM's
GOAWAY, and a well-behaved client connecting right after must be answered at once; what is
harmless must leave the connection serving.
"""

from __future__ import annotations

from collections.abc import Iterator

import h2.events
import h2.settings
import hpack
import pytest
from h2.errors import ErrorCodes
from support import ServeProcess, serve_run
from test_http2_client import H2Client, RawFrames, frame, request_headers, window_update
from test_http2_limits import LIMITS, calmed

pytestmark = pytest.mark.system

APP = "protocol_apps:app"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, SETTINGS, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 2, 4, 7, 8, 9
END_STREAM, END_HEADERS = 0x1, 0x4
STREAMS_PER_CONNECTION = 5
KEEP_ALIVE_S = 2


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    options = ("--h2-max-streams-per-connection", str(STREAMS_PER_CONNECTION), "--timeout-keep-alive", "2")
    with serve_run(APP, "--http2", *LIMITS, *options) as process:
        yield process


def priority(stream_id: int, depends_on: int, *, exclusive: bool = False) -> bytes:
    """A PRIORITY frame (RFC 9113 §6.3, deprecated but still parsed): dependency and weight 16."""
    dependency = depends_on | (0x80000000 if exclusive else 0)
    return frame(PRIORITY, payload=dependency.to_bytes(4, "big") + b"\x0f", stream_id=stream_id)


def app_calls(server: ServeProcess) -> int:
    with H2Client.connect(server.host, server.port) as client:
        status, _, body = client.response(client.request("GET", "/calls"), timeout=5)
    assert status == 200
    return int(body)


def test_an_empty_data_frame_flood(server: ServeProcess) -> None:
    # CVE-2019-9518: empty DATA frames cost the server a frame each and carry nothing.
    def abuse(client: H2Client) -> None:
        stream_id = client.request("POST", "/echo", b"")  # open, its body never ends
        client.send_raw(frame(DATA, stream_id=stream_id) * 200)

    calmed(server, abuse, "more than 50 control frames")


def test_a_window_update_flood(server: ServeProcess) -> None:
    # WINDOW_UPDATE frames the server never earned by sending DATA.
    calmed(server, lambda client: client.send_raw(window_update(0, 1) * 200), "more than 50 control frames")


def test_a_priority_reshuffling_flood(server: ServeProcess) -> None:
    # CVE-2019-9513 (resource loop): streams reprioritised over and over, to churn a priority tree.
    def abuse(client: H2Client) -> None:
        shuffle = b"".join(priority(s, d, exclusive=True) for s, d in ((1, 3), (3, 5), (5, 1), (3, 1)))
        client.send_raw(shuffle * 60)

    calmed(server, abuse, "more than 50 control frames")


def test_a_priority_dependency_cycle_is_harmless(server: ServeProcess) -> None:
    # serve keeps no priority tree (RFC 9113 §5.3.2 deprecates it), so a cycle loops nothing;
    # only a stream depending on itself is an error (RFC 9113 §5.3.1, test_http2_conformance).
    with H2Client.connect(server.host, server.port) as client:
        client.send_raw(priority(1, 3) + priority(3, 5) + priority(5, 1) + priority(7, 1, exclusive=True))
        status, _, body = client.response(client.request("GET", "/fixed"), timeout=5)
        assert (status, body) == (200, b"fixed body, 26 bytes long\n")
        assert not any(isinstance(e, h2.events.ConnectionTerminated) for e in client.events)


def test_a_data_dribble_is_coalesced_then_budgeted(server: ServeProcess) -> None:
    # CVE-2019-9511: one-byte window openings, to make the server slice its response into
    # one-byte DATA frames. The openings of one read make one frame; a flood of them is a control-frame flood.
    with H2Client.connect(server.host, server.port) as client:
        client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        stream_id = client.request("GET", "/stream?size=300000")
        frames = RawFrames(client.sock)
        frames.read_until(lambda: bool(frames.of(HEADERS, stream_id)))
        client.send_raw(window_update(stream_id, 1) * 40)
        frames.read_until(lambda: sum(len(f[3]) for f in frames.of(DATA, stream_id)) == 40)
        assert len(frames.of(DATA, stream_id)) <= 4  # one per read of the server, not one per opening
        client.send_raw(window_update(stream_id, 1) * 200)
        frames.read_until(lambda: bool(frames.of(GOAWAY)))
        assert int.from_bytes(frames.of(GOAWAY)[0][3][4:8], "big") == ErrorCodes.ENHANCE_YOUR_CALM
    with H2Client.connect(server.host, server.port) as fresh:
        assert fresh.response(fresh.request("GET", "/fixed"), timeout=5)[0] == 200


def test_a_header_block_over_the_byte_cap_in_few_continuations(server: ServeProcess) -> None:
    # The CONTINUATION flood's other half: few frames (4 are allowed), but large ones.
    def abuse(client: H2Client) -> None:
        piece = b"\x00" * 1500
        client.send_raw(
            frame(HEADERS, payload=piece, stream_id=1) + frame(CONTINUATION, payload=piece, stream_id=1) * 2
        )

    calmed(server, abuse, "header block over 4096 bytes")


def test_empty_header_fields_are_malformed_and_never_reach_the_app(server: ServeProcess) -> None:
    # CVE-2019-9516 (0-length headers leak): a field with an empty name and value.
    before = app_calls(server)

    def abuse(client: H2Client) -> None:
        block = hpack.Encoder().encode([*request_headers("GET", "/count"), (b"", b"")], huffman=False)
        client.send_raw(frame(HEADERS, END_HEADERS | END_STREAM, bytes(block), stream_id=1))

    calmed(server, abuse, "HTTP/2 protocol error: invalid field name", code=ErrorCodes.PROTOCOL_ERROR)
    assert app_calls(server) == before + 1  # only the fresh client's request that `calmed` makes


def test_the_streams_per_connection_cap_asks_for_a_new_connection(server: ServeProcess) -> None:
    # Bounds one connection's lifetime work (rapid reset's slow cousin: many well-formed streams).
    with H2Client.connect(server.host, server.port) as client:
        ids = [client.request("GET", "/fixed") for _ in range(STREAMS_PER_CONNECTION)]
        # Read raw: h2 as a client takes no frame after a GOAWAY, and the last streams' answers follow it.
        frames = RawFrames(client.sock)
        frames.read_until(lambda: frames.closed or len([f for f in frames.of(DATA) if f[1] & END_STREAM]) == len(ids))
        assert {f[2] for f in frames.of(DATA) if f[1] & END_STREAM} == set(ids)
        assert frames.of(GOAWAY)[0][3] == ids[-1].to_bytes(4, "big") + bytes(4)  # NO_ERROR, last stream served
        frames.read_until(lambda: frames.closed)
    with H2Client.connect(server.host, server.port) as fresh:
        assert fresh.response(fresh.request("GET", "/fixed"), timeout=5)[0] == 200


def test_an_idle_connection_is_closed_with_goaway(server: ServeProcess) -> None:
    # A connection held open with no stream (slow or idle HTTP/2): timeout_keep_alive applies.
    with H2Client.connect(server.host, server.port) as client:
        assert client.response(client.request("GET", "/fixed"), timeout=5)[0] == 200
        goaway = client.goaway(timeout=KEEP_ALIVE_S + 3)
        assert goaway.error_code == ErrorCodes.NO_ERROR
        client.wait_closed(timeout=2)
