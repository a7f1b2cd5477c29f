"""HTTP/2 memory under attack, on a real `serve run --http2`: the worker's RSS stays bounded.

Under `serve run` the server is the process the test started, so its RSS is read by pid
(psutil), sampled between every read of the attacking connection, and the peak compared
with a bound derived from the server's own caps. The cases (docs/http2.md, "Attacks and
defences"):

- zero window (CVE-2019-9517 class): every allowed stream asks for 8 MiB and the client never
  opens its window. Each stream may keep only its buffer, the stall timeout resets them all,
  and a fresh client is served at once.
- HPACK bomb (CVE-2016-6581): a 4 KiB cookie in the dynamic table, then header blocks of
  1-byte references to it: about 1 KiB on the wire, megabytes decoded (cookies are even joined
  into one value). The decoded-size limit stops each block while it decodes.
- The 2026 "HTTP/2 Bomb" (CVE-2026-49975): thousands of 1-byte references per block, under the
  decoded-size limit, on streams whose window stays at zero so nothing is ever released. The
  field cap refuses it; kept under both caps, what the streams pin is bounded and freed by the
  stall timeout.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import h2.events
import h2.settings
import psutil
import pytest
from h2.errors import ErrorCodes
from support import ServeProcess, serve_run
from test_http2_client import H2Client, request_headers

from supervisor.server.h2_stream import STREAM_HIGH_WATER

pytestmark = pytest.mark.system

APP = "h2_memory_app:app"
MIB = 1 << 20
STREAMS = 100  # h2_max_concurrent_streams' default: what one client may hold open
BODY = 8 * MIB  # per stream; all of them held in the server would be 800 MiB
PIECE = 65536  # the app's body messages (h2_memory_app.PIECE)
MAX_HEADER_LIST = 65536  # h2_max_header_list_size's default (max_request_header_size)
MAX_FIELDS = 100  # h2_max_header_fields' default
STALL_S = 2.0
MAX_WINDOW = 2**31 - 1
# A stream's response buffer: it may pass STREAM_HIGH_WATER by the one body message that
# crosses it (the app's send() waits after that one), so HIGH_WATER + one message.
STREAM_BUFFER = STREAM_HIGH_WATER + PIECE
# Per stream besides its buffer: h2's stream object and state machines, the H2Stream, the
# cycle, scope, task and coroutine frames (a few KiB in all); 64 KiB leaves room to spare.
STREAM_OVERHEAD = 64 * 1024
# Whatever the process keeps of freed memory (pymalloc arenas, malloc's free lists and top
# pad), the read buffers and the socket's bytes in flight.
SLACK = 16 * MIB


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    # A long keep-alive: the client may spend seconds encoding an attack (a slow CI machine under
    # coverage), and an idle connection would be closed with GOAWAY NO_ERROR before it arrives.
    with serve_run(APP, "--http2", "--h2-stall-timeout", str(STALL_S), "--timeout-keep-alive", "60") as process:
        yield process


class Meter:
    """The server's RSS: a baseline after a warm-up connection, and the peak seen while sampling."""

    def __init__(self, server: ServeProcess) -> None:
        self.server = server
        self.process = psutil.Process(server.proc.pid)
        assert not self.process.children(), "serve run is expected to serve in the process it started"
        served_promptly(server)  # HTTP/2 code imported, a first connection made and gone
        self.base = self.peak = self.rss()

    def rss(self) -> int:
        value: int = self.process.memory_info().rss
        return value

    def sample(self) -> None:
        self.peak = max(self.peak, self.rss())

    @property
    def growth(self) -> int:
        return self.peak - self.base


def pump(client: H2Client, done: Callable[[], bool], meter: Meter, timeout: float) -> None:
    """Read the server's frames in short slices until `done()`, sampling the RSS between them."""
    deadline = time.monotonic() + timeout
    while not done():
        meter.sample()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; events so far: {client.events[-5:]}")
        client.sock.settimeout(0.05)
        try:
            data = client.sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            data = b""
        if not data:
            client.closed = True
            if done():
                break
            raise AssertionError(f"connection closed; events so far: {client.events[-5:]}")
        client.events += client.conn.receive_data(data)
        client.flush()
    meter.sample()


def served_promptly(server: ServeProcess) -> None:
    """A well-behaved client on a fresh connection is answered (within a generous bound)."""
    with H2Client.connect(server.host, server.port) as fresh:
        status, _, body = fresh.response(fresh.request("GET", "/fixed"), timeout=10)
    assert (status, body) == (200, b"fixed\n")


def zero_window_client(server: ServeProcess) -> H2Client:
    """A client whose streams may receive nothing: SETTINGS_INITIAL_WINDOW_SIZE 0, and no WINDOW_UPDATE ever."""
    client = H2Client.connect(server.host, server.port)
    client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    client.flush()
    return client


def open_streams(client: H2Client, count: int, *extra: tuple[bytes, bytes]) -> list[int]:
    """`count` requests for BODY bytes each, sent in one write."""
    ids = []
    for _ in range(count):
        stream_id = client.conn.get_next_available_stream_id()
        client.conn.send_headers(stream_id, request_headers("GET", f"/big?size={BODY}", *extra), end_stream=True)
        ids.append(stream_id)
    client.flush()
    return ids


def of(client: H2Client, kind: type[Any], ids: list[int]) -> set[int]:
    """Which of the streams `ids` have had an event of `kind`."""
    return {e.stream_id for e in client.events if isinstance(e, kind) and e.stream_id in set(ids)}


def hold_until_stall_resets(server: ServeProcess, client: H2Client, ids: list[int], meter: Meter) -> None:
    """Every stream answers its head, then is held with its buffer full until the stall timeout resets it."""
    seen = len(server.lines)
    pump(client, lambda: of(client, h2.events.ResponseReceived, ids) == set(ids), meter, timeout=10)
    started = time.monotonic()
    pump(client, lambda: of(client, h2.events.StreamReset, ids) == set(ids), meter, timeout=STALL_S + 5)
    held = time.monotonic() - started
    codes = {e.error_code for e in client.events if isinstance(e, h2.events.StreamReset)}
    assert codes == {ErrorCodes.CANCEL}
    assert not of(client, h2.events.DataReceived, ids)  # the window stayed shut: nothing was sent
    # Reset by the stall timeout (sweeps are a second apart), not before.
    assert STALL_S - 1.1 <= held <= STALL_S + 2.5
    server.wait_for_line(r"HTTP/2 stream \d+ of .* reset: stalled on a zero window", start=seen, timeout=1)


def test_zero_window_streams_hold_only_their_buffers_until_the_stall_timeout(server: ServeProcess) -> None:
    meter = Meter(server)
    with zero_window_client(server) as client:
        ids = open_streams(client, STREAMS)
        hold_until_stall_resets(server, client, ids, meter)
        served_promptly(server)
        # The connection itself was never the problem: it still serves (with a window again).
        client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535})
        assert client.response(client.request("GET", "/fixed"), timeout=5)[0] == 200
    bound = STREAMS * (STREAM_BUFFER + STREAM_OVERHEAD) + SLACK  # ~34.8 MiB, against 800 MiB of bodies
    assert meter.growth <= bound, f"RSS grew {meter.growth / MIB:.1f} MiB (bound {bound / MIB:.1f} MiB)"


def test_an_hpack_bomb_is_stopped_by_the_decoded_size_limit(server: ServeProcess) -> None:
    meter = Meter(server)
    seen = len(server.lines)
    cookie = (b"cookie", b"c" * 4000)  # 4,038 bytes of table (RFC 7541 §4.1): the whole default table
    with H2Client.connect(server.host, server.port) as client:
        assert client.response(client.request("GET", "/fixed", headers=[cookie]), timeout=5)[0] == 200
        # Each block: 1,000 one-byte references, decoded to 4 MB (one 4 MB cookie once joined).
        for _ in range(50):
            stream_id = client.conn.get_next_available_stream_id()
            client.conn.send_headers(stream_id, request_headers("GET", "/fixed", *[cookie] * 1000), end_stream=True)
        block = client.conn.data_to_send()
        # Under 4 KiB a block on the wire (the cookie re-enters the small table once per block):
        # 200 MB decoded, were nothing to stop it.
        assert len(block) < 50 * 4096
        client.send_raw(block)
        pump(client, lambda: any(isinstance(e, h2.events.ConnectionTerminated) for e in client.events), meter, 10)
        goaway = next(e for e in client.events if isinstance(e, h2.events.ConnectionTerminated))
        assert goaway.error_code == ErrorCodes.ENHANCE_YOUR_CALM
        pump(client, lambda: client.closed, meter, 5)
    server.wait_for_line("HTTP/2 connection from .* closed: .*[Hh]eader (list|block)", start=seen, timeout=5)
    served_promptly(server)
    # At most one block is decoded (64 KiB, the limit) before the connection ends.
    assert meter.growth <= SLACK, f"RSS grew {meter.growth / MIB:.1f} MiB"


def test_the_http2_bomb_is_refused_by_the_field_cap(server: ServeProcess) -> None:
    meter = Meter(server)
    seen = len(server.lines)
    # 35 bytes per field (RFC 9113 §6.5.2), so 1,800 of them stay under the 64 KiB decoded limit.
    small = (b"x-b", b"")
    fields = 1800
    assert fields * 35 + 200 < MAX_HEADER_LIST
    with zero_window_client(server) as client:
        assert client.response(client.request("GET", "/fixed", headers=[small]), timeout=5)[0] == 200  # indexed now
        ids = open_streams(client, STREAMS - 1, *[small] * fields)
        pump(client, lambda: any(isinstance(e, h2.events.ConnectionTerminated) for e in client.events), meter, 10)
        goaway = next(e for e in client.events if isinstance(e, h2.events.ConnectionTerminated))
        assert goaway.error_code == ErrorCodes.ENHANCE_YOUR_CALM
        assert not of(client, h2.events.ResponseReceived, ids)  # no app ever started
        pump(client, lambda: client.closed, meter, 5)
    server.wait_for_line(f"HTTP/2 connection from .* closed: more than {MAX_FIELDS} header fields", start=seen)
    served_promptly(server)
    assert meter.growth <= SLACK, f"RSS grew {meter.growth / MIB:.1f} MiB"


def test_the_http2_bomb_under_both_caps_pins_a_bounded_amount_until_the_stall_timeout(server: ServeProcess) -> None:
    meter = Meter(server)
    # 99 references per block to a 600-byte cookie: 99 x 638 = 63,162 decoded bytes, under the
    # limit; the fields become one 60 KB cookie per stream, pinned while its window stays shut.
    cookie = (b"cookie", b"k" * 600)
    fields = MAX_FIELDS - 1
    assert fields * (32 + 6 + 600) + 200 < MAX_HEADER_LIST
    with zero_window_client(server) as client:
        assert client.response(client.request("GET", "/fixed", headers=[cookie]), timeout=5)[0] == 200
        ids = open_streams(client, STREAMS, *[cookie] * fields)
        hold_until_stall_resets(server, client, ids, meter)
    served_promptly(server)
    bound = STREAMS * (MAX_HEADER_LIST + STREAM_BUFFER + STREAM_OVERHEAD) + SLACK  # ~41 MiB
    assert meter.growth <= bound, f"RSS grew {meter.growth / MIB:.1f} MiB (bound {bound / MIB:.1f} MiB)"


def test_a_client_that_reads_nothing_pins_no_response_bodies_and_is_dropped(server: ServeProcess) -> None:
    # Slow read (CVE-2019-9517, internal data buffering): the windows are wide open, so every
    # stream may send its 8 MiB, but the client never reads its socket.
    meter = Meter(server)
    seen = len(server.lines)
    with H2Client.connect(server.host, server.port) as client:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: MAX_WINDOW})
        client.conn.increment_flow_control_window(MAX_WINDOW - 65535)
        open_streams(client, STREAMS)
        pattern = re.compile(f"HTTP/2 connection from .* closed: it read nothing for {STALL_S:g} s")
        deadline = time.monotonic() + STALL_S + 5
        while not any(pattern.search(line) for line in server.lines[seen:]):
            assert time.monotonic() < deadline, "the connection was never dropped"
            meter.sample()
            time.sleep(0.05)  # sampling interval, not a wait for readiness: the log line ends the loop
        meter.sample()
        served_promptly(server)
    # Each stream's app waits once the transport pauses: one 64 KiB piece each at most is in
    # memory (the rest of what the windows admitted sits in the kernel's socket buffers).
    bound = STREAMS * (PIECE + STREAM_OVERHEAD) + SLACK  # ~28.5 MiB, against 800 MiB of bodies
    assert meter.growth <= bound, f"RSS grew {meter.growth / MIB:.1f} MiB (bound {bound / MIB:.1f} MiB)"
