"""protocol/websocket.py: what a fragmented message may cost, and the keepalive ping's payload.

A fragmented message is held in one buffer, and ws_max_size counts its payload bytes only
(the largest message accepted, however many frames carry it): empty continuation frames cost
parsing, as any small frame does, but no memory.
"""

from __future__ import annotations

import dataclasses

from test_websocket_session import SETTINGS, Peer, binary, text
from websockets.frames import Close, Frame, Opcode

from supervisor.protocol.websocket import CLOSED, OPEN

LIMIT = 1000


def limited_peer() -> Peer:
    return Peer(settings=dataclasses.replace(SETTINGS, max_size=LIMIT))


def fragmented(peer: Peer, sizes: list[int], opcode: Opcode = Opcode.BINARY) -> bytes:
    """One message whose frames carry `sizes` bytes each, the last one FIN."""
    frames = [
        Frame(opcode if i == 0 else Opcode.CONT, b"m" * size, fin=i == len(sizes) - 1) for i, size in enumerate(sizes)
    ]
    return b"".join(peer.send(frame) for frame in frames)


def test_a_message_of_exactly_the_limit_in_many_fragments_is_delivered() -> None:
    peer = limited_peer()
    # 250 each in 4 frames (the reviewer's case), then 1000 one-byte frames with empty ones between.
    peer.deliver(fragmented(peer, [250] * 4))
    peer.deliver(fragmented(peer, [0, *([1, 0] * LIMIT)], Opcode.TEXT))
    assert peer.messages() == [
        {"type": "websocket.receive", "bytes": b"m" * LIMIT},
        {"type": "websocket.receive", "text": "m" * LIMIT},
    ]
    assert peer.session.phase == OPEN


def test_a_fragmented_message_one_byte_over_the_limit_closes_with_1009() -> None:
    peer = limited_peer()
    [close] = peer.read(peer.deliver(fragmented(peer, [250, 250, 250, 251])))
    assert Close.parse(close.data).code == 1009
    [message] = peer.messages()
    assert (message["type"], message["code"]) == ("websocket.disconnect", 1009)
    assert peer.session.phase == CLOSED
    assert peer.session.close_transport
    assert peer.session.fragments == bytearray()  # the partial message is dropped at once
    # What follows is neither parsed into messages nor answered.
    assert peer.deliver(peer.send(Frame(Opcode.CONT, b"late"))) == b""
    assert peer.messages() == []


def test_empty_continuation_frames_hold_no_memory() -> None:
    peer = limited_peer()
    peer.deliver(peer.send(text("ab", fin=False)))
    empty = peer.send(Frame(Opcode.CONT, b"", fin=False))
    for _ in range(20):
        assert peer.deliver(empty * 500) == b""
        assert peer.session.fragments == b"ab"  # 10,000 frames later: still the payload alone
    peer.deliver(peer.send(Frame(Opcode.CONT, b"c")))
    assert peer.messages() == [{"type": "websocket.receive", "text": "abc"}]
    assert peer.session.phase == OPEN


def test_the_limit_starts_again_with_each_message() -> None:
    peer = limited_peer()
    for _ in range(3):  # each message alone is at the limit; together they are far over it
        peer.deliver(fragmented(peer, [LIMIT // 2, LIMIT // 2]))
    assert peer.messages() == [{"type": "websocket.receive", "bytes": b"m" * LIMIT}] * 3


def test_fragments_gather_in_one_buffer() -> None:
    peer = Peer()
    peer.deliver(peer.send(binary(b"ab", fin=False)) + peer.send(Frame(Opcode.CONT, b"cd", fin=False)))
    assert type(peer.session.fragments) is bytearray
    assert peer.session.fragments == b"abcd"
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
