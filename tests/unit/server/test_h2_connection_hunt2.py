"""HTTP/2 connection faults found by the second fault hunt, in-process (h2 client, fake transport, real loop).

- A response still waiting for the client's window once its app returned: the connection
  counted as idle, and the keep-alive timeout or a drain cut the body.
- The scope's scheme came from the client's `:scheme`, not from the transport.
- `Upgrade: h2c` was honoured over TLS.
"""

from __future__ import annotations

import asyncio

import h2.errors
import h2.events
from fake_transport import FakeTransport
from h2_defaults import default_limits
from test_h2_connection import GET, Peer, answer, run

from supervisor._types import Receive, Scope, Send
from supervisor.asgi.proxy_headers import TrustedHosts
from supervisor.server.connection import HttpConnection
from supervisor.server.h2_connection import DRAIN_IDLE_GRACE_S

BODY = 300_000  # well over the client's default window (65535): most of it waits once the app returns


async def big(scope: Scope, receive: Receive, send: Send) -> None:
    await answer(send, b"x" * BODY)


def received(peer: Peer) -> int:
    return sum(len(e.data) for e in peer.events if isinstance(e, h2.events.DataReceived))


async def returned_with_body_waiting(peer: Peer) -> None:
    peer.start()
    peer.client.send_headers(1, GET, end_stream=True)
    peer.flush()
    await peer.until(lambda: peer.state.total_requests == 1 and received(peer) == 65535, "app returned")
    assert peer.conn.streams == {}
    assert peer.conn.delivering == {1}
    assert peer.state.h2_streams == 1  # `serve status` still counts the stream being delivered


async def read_the_rest(peer: Peer) -> None:
    """The client reads, granting window as it does, until the stream ends."""
    acknowledged = 0
    for _ in range(200):
        fresh = [e for e in peer.events[acknowledged:] if isinstance(e, h2.events.DataReceived)]
        acknowledged = len(peer.events)
        for event in fresh:
            peer.client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        peer.flush()
        peer.receive()
        if peer.ended(1):
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never ended: {received(peer)} bytes")


def test_a_response_waiting_for_window_keeps_the_connection_past_the_keep_alive_timeout() -> None:
    async def main() -> None:
        peer = Peer(big, timeout_keep_alive=5.0)
        await returned_with_body_waiting(peer)
        now = peer.conn.idle_since
        peer.conn.sweep(now + 6)
        peer.conn.sweep(now + 12)  # the client is slow, not gone: its window is merely spent
        assert not peer.transport.closed
        await read_the_rest(peer)
        assert received(peer) == BODY
        assert peer.resets() == []
        assert peer.conn.delivering == set()
        assert peer.state.h2_streams == 0
        idle = peer.conn.idle_since  # idle from the moment the last byte left
        assert idle > now
        peer.conn.sweep(idle + 4.9)
        assert not peer.transport.closed
        peer.conn.sweep(idle + 5.1)
        assert peer.transport.closed

    run(main())


def test_a_response_whose_client_window_stays_shut_is_still_reset_after_the_stall_timeout() -> None:
    async def main() -> None:
        peer = Peer(big, timeout_keep_alive=5.0, h2_limits=default_limits(stall_timeout=30.0))
        await returned_with_body_waiting(peer)
        now = peer.conn.idle_since
        peer.conn.sweep(now + 1)  # seen blocked: the stall clock starts
        peer.conn.sweep(now + 30)
        assert peer.conn.delivering == {1}
        peer.conn.sweep(now + 31)
        await peer.until(lambda: peer.ended(1), "reset")
        assert peer.resets() == [(1, h2.errors.ErrorCodes.CANCEL)]
        assert peer.conn.delivering == set()
        assert peer.state.h2_streams == 0
        assert peer.state.h2_limits_exceeded == 1
        idle = peer.conn.idle_since
        peer.conn.sweep(idle + 5.1)
        assert peer.transport.closed

    run(main())


def test_a_client_reset_of_a_stream_being_delivered_forgets_it() -> None:
    async def main() -> None:
        peer = Peer(big)
        await returned_with_body_waiting(peer)
        peer.client.reset_stream(1)
        peer.flush()
        assert peer.conn.delivering == set()
        assert peer.state.h2_streams == 0
        peer.transport.peer_gone()
        assert peer.state.h2_streams == 0

    run(main())


def test_a_lost_connection_uncounts_its_streams_being_delivered() -> None:
    async def main() -> None:
        peer = Peer(big)
        await returned_with_body_waiting(peer)
        peer.transport.peer_gone()
        assert peer.state.h2_streams == 0
        assert peer.state.h2_connections == 0

    run(main())


def raw_frames(data: bytes) -> list[tuple[int, int, int, int]]:
    """(type, flags, stream id, length) of each whole frame in `data`."""
    frames, position = [], 0
    while position + 9 <= len(data):
        length = int.from_bytes(data[position : position + 3], "big")
        stream_id = int.from_bytes(data[position + 5 : position + 9], "big") & 0x7FFFFFFF
        frames.append((data[position + 3], data[position + 4], stream_id, length))
        position += 9 + length
    return frames


def window_update(stream_id: int, increment: int) -> bytes:
    return (4).to_bytes(3, "big") + bytes((8, 0)) + stream_id.to_bytes(4, "big") + increment.to_bytes(4, "big")


def test_a_drain_lets_a_stream_below_its_goaway_finish_delivering() -> None:
    async def main() -> None:
        peer = Peer(big, timeout_keep_alive=1000.0)
        await returned_with_body_waiting(peer)
        peer.state.draining = True
        start = peer.conn.idle_since
        peer.conn.sweep(start)  # the announcement
        peer.conn.sweep(start + DRAIN_IDLE_GRACE_S)  # the final GOAWAY: stream 1 is below it
        assert peer.conn.front.last_stream_id == 1
        for later in (2, 5, 20):  # long past the grace: the stream still has bytes to deliver
            peer.conn.sweep(start + later)
        assert not peer.transport.closed
        # h2's client takes no frame after GOAWAY: the rest is read raw, the window granted raw.
        got, ended = 65535, False
        for _ in range(200):
            await asyncio.sleep(0)
            data = [f for f in raw_frames(peer.transport.take()) if f[0] == 0 and f[2] == 1]
            size = sum(f[3] for f in data)
            got += size
            ended = ended or any(f[1] & 1 for f in data)
            if ended:
                break
            if size:
                peer.conn.data_received(window_update(1, size) + window_update(0, size))
            elif got == 65535:
                peer.conn.data_received(window_update(1, 65535) + window_update(0, 65535))
        assert (got, ended) == (BODY, True)
        assert not peer.transport.closed
        idle = peer.conn.idle_since
        peer.conn.sweep(idle + DRAIN_IDLE_GRACE_S)
        assert peer.transport.closed

    run(main())


def scheme_seen(*extra: tuple[bytes, bytes], trusted: bool = False, scheme: bytes = b"https") -> str:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await answer(send)

    async def main() -> None:
        peer = Peer(app)
        if trusted:
            peer.state.trusted = TrustedHosts(["127.0.0.1"])
        peer.start()
        head = [(name, scheme if name == b":scheme" else value) for name, value in GET]
        peer.client.send_headers(1, [*head, *extra], end_stream=True)
        peer.flush()
        await peer.until(lambda: peer.ended(1), "answered")

    run(main())
    return str(seen[0]["scheme"])


def test_the_scheme_is_the_transports_not_the_clients_word() -> None:
    assert scheme_seen() == "http"  # cleartext: `:scheme https` changes nothing
    assert scheme_seen((b"x-forwarded-proto", b"https")) == "http"  # nor an untrusted peer's header


def test_a_trusted_proxy_still_sets_the_scheme_with_its_headers() -> None:
    assert scheme_seen((b"x-forwarded-proto", b"https"), trusted=True, scheme=b"http") == "https"
    assert scheme_seen(trusted=True) == "http"


def test_an_h2c_upgrade_over_tls_is_answered_as_http1() -> None:
    async def main() -> None:
        peer = Peer(lambda scope, receive, send: answer(send, scope["http_version"].encode()))
        transport = FakeTransport(peer.loop)
        transport.connect(HttpConnection(peer.state, ("127.0.0.1", 8443), tls=True))  # ALPN chose http/1.1
        settings = peer.client.initiate_upgrade_connection()
        assert settings is not None
        transport.protocol.data_received(  # type: ignore[union-attr]
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            b"HTTP2-Settings: " + settings + b"\r\n\r\n"
        )
        wire = b""
        for _ in range(50):
            await asyncio.sleep(0)
            wire += transport.take()
            if wire.endswith(b"1.1"):
                break
        assert wire.startswith(b"HTTP/1.1 200 OK\r\n"), wire
        assert peer.state.h2_connections == 0

    run(main())
