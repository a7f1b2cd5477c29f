"""protocol/websocket.py: what a fragmented message may cost, and the keepalive ping's payload.

A fragmented message is held in one buffer and charged `FRAGMENT_OVERHEAD` per frame
against ws_max_size, so neither tiny nor empty continuation frames cost more than the limit.
"""

from __future__ import annotations

import dataclasses

from test_websocket_session import SETTINGS, Peer, binary, text
from websockets.frames import Close, Frame, Opcode

from supervisor.protocol.websocket import CLOSED, FRAGMENT_OVERHEAD, OPEN

LIMIT = 10 * FRAGMENT_OVERHEAD


def limited_peer() -> Peer:
    return Peer(settings=dataclasses.replace(SETTINGS, max_size=LIMIT))


def test_a_message_whose_frames_cost_exactly_the_limit_is_delivered() -> None:
    peer = limited_peer()
    # Nine frames whose payloads fill what their nine overheads leave of the limit.
    payload = LIMIT - 9 * FRAGMENT_OVERHEAD
    data = peer.send(binary(b"a", fin=False))
    data += b"".join(peer.send(Frame(Opcode.CONT, b"b", fin=False)) for _ in range(7))
    data += peer.send(Frame(Opcode.CONT, b"c" * (payload - 8)))
    assert peer.read(peer.deliver(data)) == []
    assert peer.messages() == [{"type": "websocket.receive", "bytes": b"a" + b"b" * 7 + b"c" * (payload - 8)}]
    assert peer.session.phase == OPEN


def test_empty_continuation_frames_count_against_the_limit_and_close_with_1009() -> None:
    peer = limited_peer()
    data = peer.send(text("", fin=False)) + b"".join(peer.send(Frame(Opcode.CONT, b"", fin=False)) for _ in range(10))
    [close] = peer.read(peer.deliver(data))
    assert Close.parse(close.data) == Close(1009, "message too big")
    assert peer.messages() == [{"type": "websocket.disconnect", "code": 1009, "reason": "message too big"}]
    assert peer.session.phase == CLOSED
    assert peer.session.close_transport
    assert peer.session.fragments == bytearray()  # the partial message is dropped at once
    # What follows is neither parsed into messages nor answered.
    assert peer.deliver(peer.send(Frame(Opcode.CONT, b"late"))) == b""
    assert peer.messages() == []


def test_the_cost_starts_again_with_each_message() -> None:
    peer = limited_peer()
    for _ in range(3):  # each message alone is under the limit; together they are not
        data = peer.send(binary(b"x" * FRAGMENT_OVERHEAD, fin=False)) + peer.send(
            Frame(Opcode.CONT, b"y" * FRAGMENT_OVERHEAD)
        )
        peer.deliver(data)
    assert (
        peer.messages()
        == [{"type": "websocket.receive", "bytes": b"x" * FRAGMENT_OVERHEAD + b"y" * FRAGMENT_OVERHEAD}] * 3
    )


def test_fragments_gather_in_one_buffer() -> None:
    peer = Peer()
    peer.deliver(peer.send(binary(b"ab", fin=False)) + peer.send(Frame(Opcode.CONT, b"cd", fin=False)))
    assert type(peer.session.fragments) is bytearray
    assert peer.session.fragments == b"abcd"
    assert peer.session.fragment_cost == 4 + 2 * FRAGMENT_OVERHEAD
    peer.deliver(peer.send(Frame(Opcode.CONT, b"e")))
    [message] = peer.messages()
    assert message == {"type": "websocket.receive", "bytes": b"abcde"}
    assert type(message["bytes"]) is bytes  # ASGI: bytes, not the buffer
    assert peer.session.fragments == bytearray()


def test_the_ping_carries_the_payload_it_is_given_and_only_its_echo_is_the_pong() -> None:
    peer = Peer()
    [ping] = peer.read(peer.session.ping(b"\x13\x37\xbe\xef"))
    assert (ping.opcode, ping.data) == (Opcode.PING, b"\x13\x37\xbe\xef")
    answer = b"".join(peer.client.data_to_send())  # websockets' client answered the ping itself
    peer.deliver(peer.send(Frame(Opcode.PONG, (1).to_bytes(4, "big"))))  # a guessed counter is not the pong
    assert peer.session.pong_due == b"\x13\x37\xbe\xef"
    peer.deliver(answer)
    assert peer.session.pong_due is None
