"""SIGTERM to a `serve run` child with an open WebSocket: closed with 1012, and the process exits 0.

tests/integration/test_websocket.py checks the same close for a stop asked of an in-process
`Server`; the signal and the exit code need a process.
"""

from __future__ import annotations

import signal

import pytest
from support import serve_run
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

pytestmark = pytest.mark.system

TIMEOUT_S = 10.0


def test_graceful_shutdown_closes_websockets_with_1012(http: str) -> None:
    with serve_run("ws_apps:app", "--http", http) as process:
        url = f"ws://{process.host}:{process.port}/hold"
        with connect(url, proxy=None, open_timeout=TIMEOUT_S) as ws:
            ws.send("ping")
            process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(TIMEOUT_S)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1012
        assert process.wait_exit(TIMEOUT_S) == 0
