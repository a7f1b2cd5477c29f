"""WebSocket upgrade requests, before the websockets library is needed: detection, scope, settings.

Everything an HTTP connection needs to decide whether to hand its transport over lives here,
so a server that never meets an upgrade never imports the websockets library (several MiB
of resident memory per process).
"""

from __future__ import annotations

from dataclasses import dataclass

from supervisor._types import Headers, Scope

# 2.4: send() on a closed WebSocket raises an OSError subclass (`ClientDisconnected`).
WS_ASGI_VERSION: dict[str, str] = {"version": "3.0", "spec_version": "2.4"}


@dataclass(frozen=True, slots=True)
class WebSocketSettings:
    """Plain values every WebSocket connection of a server reads (copied from the config once).

    No defaults: protocol/ cannot see config/, and the ws_* settings' defaults live there alone.
    """

    max_size: int
    max_queue: int
    ping_interval: float | None
    ping_timeout: float | None
    per_message_deflate: bool


def _tokens(headers: Headers, name: bytes) -> list[bytes]:
    return [token.strip().lower() for key, value in headers if key == name for token in value.split(b",")]


def is_websocket_upgrade(scope: Scope) -> bool:
    """Whether an HTTP scope asks for a WebSocket (RFC 6455 §4.1: GET, HTTP/1.1, Upgrade and Connection)."""
    if scope["method"] != "GET" or scope["http_version"] != "1.1":
        return False
    headers = scope["headers"]
    return b"websocket" in _tokens(headers, b"upgrade") and b"upgrade" in _tokens(headers, b"connection")


def websocket_scope(http_scope: Scope) -> Scope:
    """The `websocket` scope for an upgrade request (or an HTTP/2 extended CONNECT), from the `http` scope built for it."""
    subprotocols = [
        token.decode("latin-1") for token in _raw_tokens(http_scope["headers"], b"sec-websocket-protocol") if token
    ]
    return {
        "type": "websocket",
        "asgi": WS_ASGI_VERSION.copy(),  # each connection's own: an app may change its scope
        "http_version": http_scope["http_version"],  # "1.1", or "2" for an extended CONNECT (RFC 8441)
        "scheme": "wss" if http_scope["scheme"] == "https" else "ws",
        "server": http_scope["server"],
        "client": http_scope["client"],
        "root_path": http_scope["root_path"],
        "path": http_scope["path"],
        "raw_path": http_scope["raw_path"],
        "query_string": http_scope["query_string"],
        "headers": http_scope["headers"],
        "subprotocols": subprotocols,
        "state": http_scope["state"],
        "extensions": {"websocket.http.response": {}},
    }


def _raw_tokens(headers: Headers, name: bytes) -> list[bytes]:
    # Subprotocol names are case-sensitive (RFC 6455 §4.1), unlike Upgrade and Connection tokens.
    return [token.strip() for key, value in headers if key == name for token in value.split(b",")]
