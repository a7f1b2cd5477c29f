"""WebSocket over HTTP/2 (RFC 8441) on a real `serve run --http2`: extended CONNECT, echo, close, denial, reset."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from typing import Any

import h2.events
import h2.settings
import pytest
from support import ServeProcess, serve_run
from test_http2_client import H2Client, RawFrames, frame
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

pytestmark = pytest.mark.system

APP = "h2_extras_app:app"
DATA, END_STREAM = 0x0, 0x1


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    with serve_run(APP, "--http2") as process:
        yield process


def connect_headers(path: str, *extra: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    return [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":scheme", b"http"),
        (b":path", path.encode()),
        (b":authority", b"h2.test"),
        (b"sec-websocket-version", b"13"),
        *extra,
    ]


class WebSocketStream:
    """A WebSocket client (websockets' sans-I/O protocol, already OPEN) on one stream of `client`."""

    def __init__(self, client: H2Client, path: str, *extra: tuple[bytes, bytes]) -> None:
        self.client = client
        client.read_until(lambda: client.conn.remote_settings.enable_connect_protocol == 1)
        self.stream_id = client.conn.get_next_available_stream_id()
        client.conn.send_headers(self.stream_id, connect_headers(path, *extra))
        client.flush()
        self.ws = ClientProtocol(parse_uri("ws://h2.test/"), state=State.OPEN, max_size=None)
        self.taken = 0  # DataReceived events already fed to `ws`

    def head(self) -> dict[bytes, bytes]:
        client = self.client
        client.read_until(lambda: bool(self._of(h2.events.ResponseReceived)))
        return dict(self._of(h2.events.ResponseReceived)[0].headers)

    def _of(self, kind: type) -> list[Any]:
        return [e for e in self.client.events if isinstance(e, kind) and getattr(e, "stream_id", 0) == self.stream_id]

    def send(self, frame: Frame) -> None:
        """Send one frame as DATA, waiting for the server's WINDOW_UPDATEs when it is larger than the window."""
        self.ws.send_frame(frame)
        data = b"".join(self.ws.data_to_send())
        conn = self.client.conn
        while data:
            window = min(conn.local_flow_control_window(self.stream_id), conn.max_outbound_frame_size)
            if window <= 0:
                self.client.flush()
                self.client.read_until(lambda: conn.local_flow_control_window(self.stream_id) > 0)
                continue
            conn.send_data(self.stream_id, data[:window])
            data = data[window:]
        self.client.flush()

    def frames(self, count: int) -> list[Frame]:
        found: list[Frame] = []

        def enough() -> bool:
            data = self._of(h2.events.DataReceived)
            for event in data[self.taken :]:
                self.ws.receive_data(event.data)
            self.taken = len(data)
            found.extend(e for e in self.ws.events_received() if isinstance(e, Frame))
            return len(found) >= count

        self.client.read_until(enough)
        return found

    def ended(self) -> bool:
        return self.client.ended(self.stream_id)


def test_the_server_offers_extended_connect(server: ServeProcess) -> None:
    with H2Client.connect(server.host, server.port) as client:
        client.read_until(lambda: any(isinstance(e, h2.events.RemoteSettingsChanged) for e in client.events))
        assert client.conn.remote_settings.enable_connect_protocol == 1


def test_echo_then_client_close_ends_the_stream(server: ServeProcess) -> None:
    with H2Client.connect(server.host, server.port) as client:
        socket = WebSocketStream(client, "/chat")
        head = socket.head()
        assert head[b":status"] == b"200"
        assert b"sec-websocket-accept" not in head
        assert head[b"server"] == b"serve"
        socket.send(Frame(Opcode.TEXT, b"hello over h2"))
        socket.send(Frame(Opcode.TEXT, b"scope"))
        socket.send(Frame(Opcode.BINARY, b"\x00\x01"))
        echoed = socket.frames(3)
        assert echoed[0].data == b"hello over h2"
        assert json.loads(bytes(echoed[1].data)) == {"http_version": "2", "scheme": "ws", "path": "/chat"}
        assert (echoed[2].opcode, echoed[2].data) == (Opcode.BINARY, b"\x00\x01")
        # Another stream on the same connection is served meanwhile.
        get = client.request("GET", "/extensions")
        assert client.response(get)[0] == 200
        socket.send(Frame(Opcode.CLOSE, Close(1000, "done").serialize()))
        [close] = socket.frames(1)
        assert close.opcode == Opcode.CLOSE
        assert Close.parse(close.data).code == 1000
        client.read_until(socket.ended)
    server.wait_for_line("disconnect 1000 on /chat", timeout=5)


def test_server_close_then_the_clients_close_ends_the_stream(server: ServeProcess) -> None:
    with H2Client.connect(server.host, server.port) as client:
        socket = WebSocketStream(client, "/closing")
        assert socket.head()[b":status"] == b"200"
        socket.send(Frame(Opcode.TEXT, b"bye"))
        [close] = socket.frames(1)
        assert Close.parse(close.data) == Close(1000, "bye")
        socket.send(Frame(Opcode.CLOSE, close.data))
        client.read_until(socket.ended)
        assert not any(isinstance(e, h2.events.StreamReset) for e in client.events)


def test_a_client_reset_is_a_1006_disconnect(server: ServeProcess) -> None:
    with H2Client.connect(server.host, server.port) as client:
        socket = WebSocketStream(client, "/reset-me")
        assert socket.head()[b":status"] == b"200"
        client.conn.reset_stream(socket.stream_id)
        client.flush()
        server.wait_for_line("disconnect 1006 on /reset-me", timeout=5)
        assert client.response(client.request("GET", "/extensions"))[0] == 200


def test_closing_before_accepting_answers_403(server: ServeProcess) -> None:
    with H2Client.connect(server.host, server.port) as client:
        socket = WebSocketStream(client, "/deny")
        assert socket.head()[b":status"] == b"403"
        client.read_until(socket.ended)


def test_a_denial_response_goes_out_as_the_streams_response(server: ServeProcess) -> None:
    with H2Client.connect(server.host, server.port) as client:
        socket = WebSocketStream(client, "/deny-custom")
        status, headers, body = client.response(socket.stream_id)
        assert (status, headers[b"x-why"], body) == (401, b"token", b"no token")


def test_an_invalid_handshake_is_refused_before_the_app_runs(server: ServeProcess) -> None:
    with H2Client.connect(server.host, server.port) as client:
        client.read_until(lambda: client.conn.remote_settings.enable_connect_protocol == 1)
        stream_id = client.conn.get_next_available_stream_id()
        headers = [h for h in connect_headers("/chat") if h[0] != b"sec-websocket-version"]
        headers.append((b"sec-websocket-version", b"8"))  # RFC 8441 §5 asks for 13
        client.conn.send_headers(stream_id, headers)
        client.flush()
        status, head, body = client.response(stream_id)
        assert status == 400
        assert b"connection" not in head  # HTTP/1.1's Connection: close is no HTTP/2 field
        assert b"Sec-WebSocket-Version" in body
    server.wait_for_line('"WebSocket /chat" 400', timeout=5)


def test_an_unknown_protocol_is_not_implemented(server: ServeProcess) -> None:
    with H2Client.connect(server.host, server.port) as client:
        client.read_until(lambda: client.conn.remote_settings.enable_connect_protocol == 1)
        stream_id = client.conn.get_next_available_stream_id()
        headers = [(b":protocol", b"chat") if h[0] == b":protocol" else h for h in connect_headers("/chat")]
        client.conn.send_headers(stream_id, headers)
        client.flush()
        assert client.response(stream_id)[0] == 501


def test_messages_larger_than_the_windows_flow_both_ways(server: ServeProcess) -> None:
    # 300 KB each way: beyond the stream's window in (the server gives window back as the
    # WebSocket reads) and beyond the client's window out (the app's send() waits in drain()).
    payload = bytes(range(256)) * 1200
    with H2Client.connect(server.host, server.port) as client:
        socket = WebSocketStream(client, "/big")
        assert socket.head()[b":status"] == b"200"
        socket.send(Frame(Opcode.BINARY, payload))
        socket.send(Frame(Opcode.BINARY, payload[::-1]))
        first, second = socket.frames(2)
        assert (first.data, second.data) == (payload, payload[::-1])


def test_ws_none_offers_no_extended_connect() -> None:
    with serve_run(APP, "--http2", "--ws", "none") as process, H2Client.connect(process.host, process.port) as client:
        client.read_until(lambda: any(isinstance(e, h2.events.RemoteSettingsChanged) for e in client.events))
        assert client.conn.remote_settings.enable_connect_protocol == 0


def test_a_stop_closes_the_websocket_with_1012_then_ends_the_stream() -> None:
    with serve_run(APP, "--http2") as process, H2Client.connect(process.host, process.port) as client:
        socket = WebSocketStream(client, "/hold")
        assert socket.head()[b":status"] == b"200"
        socket.send(Frame(Opcode.TEXT, b"ping"))
        socket.frames(1)
        process.send_signal(signal.SIGTERM)
        # h2 takes no frame after the server's GOAWAY: the rest is read (and answered) in raw frames.
        raw = RawFrames(client.sock)
        raw.read_until(lambda: bool(raw.of(DATA, socket.stream_id)))
        socket.ws.receive_data(raw.of(DATA, socket.stream_id)[0][3])
        [close] = [e for e in socket.ws.events_received() if isinstance(e, Frame)]
        assert Close.parse(close.data).code == 1012
        socket.ws.send_frame(Frame(Opcode.CLOSE, close.data))
        client.sock.sendall(frame(DATA, 0, b"".join(socket.ws.data_to_send()), socket.stream_id))
        raw.read_until(lambda: any(f[1] & END_STREAM for f in raw.of(DATA, socket.stream_id)))
        client.close()
        assert process.wait_exit(10) == 0
