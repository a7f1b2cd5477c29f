"""A recording `RequestSink` and the two parser fronts, for driving supervisor/protocol/ without sockets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from supervisor._types import Headers
from supervisor.protocol.base import Front
from supervisor.protocol.front_h11 import H11Front
from supervisor.protocol.front_httptools import HttptoolsFront
from supervisor.protocol.request import inspect_head, split_target

FRONT_TYPES: dict[str, Any] = {"httptools": HttptoolsFront, "h11": H11Front}


@dataclass
class Request:
    """One request as the sink saw it, body pieces joined (fronts cut bodies differently)."""

    method: bytes
    target: bytes
    http_version: str
    headers: Headers
    body: bytes = b""
    complete: bool = False


@dataclass
class Recorder:
    """A `RequestSink` that keeps every call; with `policy`, it applies request.py as the connection does."""

    policy: bool = True
    take_over_upgrades: bool = False
    requests: list[Request] = field(default_factory=list)
    upgrades: list[bytes] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def on_request(self, method: bytes, target: bytes, http_version: str, headers: Headers) -> None:
        self.calls.append("request")
        if self.policy:
            inspect_head(http_version, headers)
            split_target(target, "")
        self.requests.append(Request(method, target, http_version, headers))

    def on_body(self, chunk: bytes) -> None:
        self.calls.append("body")
        assert chunk, "an empty body piece"
        self.requests[-1].body += chunk

    def on_message_complete(self) -> None:
        self.calls.append("complete")
        self.requests[-1].complete = True

    def on_upgrade(self, trailing: bytes) -> bool:
        self.calls.append("upgrade")
        self.upgrades.append(trailing)
        return self.take_over_upgrades


MakeFront = Callable[..., tuple[Front, Recorder]]
