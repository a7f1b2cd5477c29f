"""Decide which peers are trusted proxies and apply their X-Forwarded-* headers to a scope.

Pure: no I/O, no event loop.

The connection calls `apply_proxy_headers` only when the direct peer is in `TrustedHosts`
(`forwarded_allow_ips`), so a client talking to us directly can never set its own address
or scheme. X-Forwarded-For is read right to left: each proxy appends the address it saw,
so the first hop that is not a trusted proxy is the real client; entries to its left were
written by that client and are not believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from supervisor._types import Scope

# A bound on the memo, not a tuning knob: distinct peers beyond this just start a fresh memo.
_MEMO_MAX_ENTRIES = 4096
# Longer than any textual IP (45 characters for IPv6 with an IPv4 tail, plus a zone id):
# such hosts are judged but not memoised, so junk cannot pin large keys.
_MEMO_MAX_HOST_CHARS = 64

_FORWARDED_FOR = b"x-forwarded-for"
_FORWARDED_PROTO = b"x-forwarded-proto"
_FORWARDED_PORT = b"x-forwarded-port"
_FORWARDED_NAMES = frozenset((_FORWARDED_FOR, _FORWARDED_PROTO, _FORWARDED_PORT))

_SCHEMES = {
    # forwarded proto -> (scheme for http scopes, scheme for websocket scopes)
    "http": ("http", "ws"),
    "ws": ("http", "ws"),
    "https": ("https", "wss"),
    "wss": ("https", "wss"),
}

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedHosts:
    """The peers whose X-Forwarded-* headers are believed (`forwarded_allow_ips`).

    Entries may be IPv4 or IPv6 addresses (brackets allowed), CIDR networks (host bits are
    ignored: "10.1.2.3/8" means 10.0.0.0/8), "*" for every peer, "unix:" for peers on a
    unix socket, or any other string, kept as a literal compared verbatim. A single string
    is split on commas, as uvicorn's `forwarded_allow_ips` is.

    A peer on a unix socket has no address (the connection passes `None`); it is trusted
    only when the list holds "unix:" or "*". Connecting to the socket needs file-system
    permission, so a deployment may well trust it; but that is the operator's choice, and
    the default list (127.0.0.1) does not make it.
    """

    __slots__ = ("_addresses", "_literals", "_memo", "_networks", "trust_all", "trust_unix")

    def __init__(self, entries: Iterable[str]) -> None:
        if isinstance(entries, str):
            entries = entries.split(",")
        self.trust_all = False
        self.trust_unix = False
        self._addresses: set[_Address] = set()
        self._networks: list[_Network] = []
        self._literals: set[str] = set()
        self._memo: dict[str, bool] = {}
        for raw in entries:
            self._add(raw.strip())

    def _add(self, entry: str) -> None:
        if entry == "*":
            self.trust_all = True
        elif entry == "unix:":
            self.trust_unix = True
        elif entry:
            try:
                if "/" in entry:
                    self._networks.append(ipaddress.ip_network(entry, strict=False))
                else:
                    self._addresses.add(ipaddress.ip_address(_unbracket(entry)))
            except ValueError:
                self._literals.add(entry)

    def __contains__(self, host: str | None) -> bool:
        """Whether `host` (an address as text, or None for a unix-socket peer) is trusted."""
        if self.trust_all:
            return True
        if host is None:
            return self.trust_unix
        verdict = self._memo.get(host)
        if verdict is None:
            verdict = self._judge(host)
            if len(host) <= _MEMO_MAX_HOST_CHARS:
                if len(self._memo) >= _MEMO_MAX_ENTRIES:
                    self._memo.clear()
                self._memo[host] = verdict
        return verdict

    def _judge(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(_unbracket(host))
        except ValueError:
            return host in self._literals
        candidates: tuple[_Address, ...] = (address,)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            # "::ffff:10.0.0.1" is how a dual-stack socket reports an IPv4 peer.
            candidates = (address, address.ipv4_mapped)
        return any(a in self._addresses or any(a in net for net in self._networks) for a in candidates)


def apply_proxy_headers(scope: Scope, trusted: TrustedHosts) -> None:
    """Rewrite `scope` from the X-Forwarded-* headers of a trusted direct peer.

    - X-Forwarded-For (all such headers, joined): `scope["client"]` becomes the right-most
      hop that is not trusted, or the left-most hop when every hop is trusted; a hop may
      carry a port ("1.2.3.4:5678", "[::1]:5678"), else the port is 0.
    - X-Forwarded-Proto (the last header; its right-most value, the one our own proxy
      wrote): http/https/ws/wss set `scope["scheme"]`, as ws/wss for WebSocket scopes.
    - X-Forwarded-Port (likewise): replaces the port of `scope["server"]`; a unix-socket
      scope, whose server is None, is left alone.

    Unknown or malformed values are ignored. Costs one pass over the headers when none
    of them is present.
    """
    forwarded_for: list[bytes] = []
    proto = port = None
    for name, value in scope["headers"]:
        if name in _FORWARDED_NAMES:
            if name == _FORWARDED_FOR:
                forwarded_for.append(value)
            elif name == _FORWARDED_PROTO:
                proto = value
            else:
                port = value
    if proto is not None:
        _apply_proto(scope, _last_value(proto).lower())
    if port is not None:
        _apply_port(scope, _last_value(port))
    if forwarded_for:
        _apply_for(scope, forwarded_for, trusted)


def _apply_proto(scope: Scope, proto: str) -> None:
    schemes = _SCHEMES.get(proto)
    if schemes is not None:
        scope["scheme"] = schemes[1] if scope["type"] == "websocket" else schemes[0]


def _apply_port(scope: Scope, text: str) -> None:
    port = _parse_port(text)
    server = scope.get("server")
    if port and server is not None:
        scope["server"] = (server[0], port)


def _apply_for(scope: Scope, values: list[bytes], trusted: TrustedHosts) -> None:
    hops = [hop.strip() for hop in b",".join(values).decode("latin-1").split(",")]
    hops = [hop for hop in hops if hop]
    if not hops:
        return
    for hop in reversed(hops):
        host, port = split_hop(hop)
        if host not in trusted:
            scope["client"] = (host, port)
            return
    scope["client"] = split_hop(hops[0])


def split_hop(hop: str) -> tuple[str, int]:
    """Split one X-Forwarded-For entry into (host, port); port 0 when absent.

    Accepts "1.2.3.4", "1.2.3.4:80", "::1", "[::1]" and "[::1]:80". Anything else, a
    malformed port included, comes back whole with port 0, so that trust is never
    granted to a normalised form of a value we did not understand.
    """
    if hop.startswith("["):
        host, bracket, rest = hop[1:].partition("]")
        if not bracket:
            return hop, 0
        if not rest:
            return host, 0
        port = _parse_port(rest[1:]) if rest.startswith(":") else None
        return (host, port) if port is not None else (hop, 0)
    if hop.count(":") == 1:
        host, _, port_text = hop.partition(":")
        port = _parse_port(port_text)
        return (host, port) if port is not None else (hop, 0)
    return hop, 0


def _parse_port(text: str) -> int | None:
    # isascii(): latin-1 text may hold digits such as "²" that isdigit() accepts but int()
    # refuses; the length bound keeps int() away from its huge-number limit.
    if len(text) <= 5 and text.isascii() and text.isdigit() and int(text) <= 65535:
        return int(text)
    return None


def _last_value(value: bytes) -> str:
    return value.decode("latin-1").rpartition(",")[2].strip()


def _unbracket(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host
