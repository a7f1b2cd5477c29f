"""Request-head policy shared by both parser fronts: framing and smuggling rules, the request target.

May import: errors, _types and the standard library; never asyncio, socket or config/.

httptools (llhttp) and h11 each reject some bad heads and accept others (h11 takes
Content-Length beside Transfer-Encoding, obs-fold, "HTTP/2.7"; llhttp takes "gzip, chunked"
and a missing Host). Every head passes through `inspect_head`, so both fronts refuse the
same requests and answer them the same way.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from supervisor._types import Headers
from supervisor.errors import ParseError

# Only these names change how a request is framed or answered; every other header is
# skipped with one set lookup, which keeps the per-request cost at a few hundred ns.
_WATCHED = frozenset((b"content-length", b"transfer-encoding", b"connection", b"expect", b"host", b"upgrade"))
_MAX_CONTENT_LENGTH_DIGITS = 18  # fits in a C int64: larger values are nonsense or an attack

UPGRADE_NONE = b""


def inspect_head(http_version: str, headers: Headers) -> tuple[bool, bool, bytes]:
    """Validate the framing headers of a request head.

    Args:
        http_version: "1.1" or "1.0" as the front read it.
        headers: the head's headers, names lowercased.

    Returns:
        (keep_alive, expect_100_continue, upgrade) where `upgrade` is the lowercased
        `Upgrade` value when `Connection: upgrade` asks for it, else b"".

    Raises:
        ParseError: 400 for an ambiguous or malformed head, 505 for another HTTP version.
    """
    if http_version not in ("1.1", "1.0"):
        raise ParseError(505, f"HTTP version {http_version} not supported")
    keep_alive = http_version == "1.1"  # RFC 9112 §9.3: 1.0 closes unless it asks otherwise
    expect_continue = connection_upgrade = False
    upgrade = UPGRADE_NONE
    seen = 0
    for name, value in headers:
        if name not in _WATCHED:
            continue
        if name == b"connection":
            keep_alive, connection_upgrade = _connection_tokens(value, keep_alive, connection_upgrade)
        elif name == b"expect":
            expect_continue = value.lower() == b"100-continue"
        elif name == b"upgrade":
            upgrade = value.strip().lower()
        else:
            seen = _check_framing(name, value, seen)
    if seen & _BOTH_LENGTHS == _BOTH_LENGTHS:
        # RFC 9112 §6.1: the classic smuggling pair; refuse rather than pick one.
        raise ParseError(400, "both Content-Length and Transfer-Encoding")
    if not seen & _HOST and http_version == "1.1":
        raise ParseError(400, "missing Host")
    return keep_alive, expect_continue and http_version == "1.1", upgrade if connection_upgrade else UPGRADE_NONE


_CONTENT_LENGTH, _TRANSFER_ENCODING, _HOST = 1, 2, 4
_BOTH_LENGTHS = _CONTENT_LENGTH | _TRANSFER_ENCODING
_FRAMING_BITS = {b"content-length": _CONTENT_LENGTH, b"transfer-encoding": _TRANSFER_ENCODING, b"host": _HOST}


def _check_framing(name: bytes, value: bytes, seen: int) -> int:
    bit = _FRAMING_BITS[name]
    if seen & bit:
        # RFC 9112 §6.3 (several lengths make the framing unknowable), §3.2 (exactly one Host).
        raise ParseError(400, f"more than one {name.decode('ascii').title()}")
    if bit == _CONTENT_LENGTH:
        if not value.isdigit() or len(value) > _MAX_CONTENT_LENGTH_DIGITS:
            raise ParseError(400, "invalid Content-Length")
    elif bit == _TRANSFER_ENCODING and value.strip().lower() != b"chunked":
        # RFC 9112 §6.1: we decode only chunked; anything else would hand the app undecoded bytes.
        raise ParseError(400, "unsupported Transfer-Encoding")
    return seen | bit


def _connection_tokens(value: bytes, keep_alive: bool, upgrade: bool) -> tuple[bool, bool]:
    lowered = value.lower()
    tokens = [t.strip() for t in lowered.split(b",")] if b"," in lowered else [lowered.strip()]
    if b"close" in tokens:
        keep_alive = False
    elif b"keep-alive" in tokens:
        keep_alive = True
    return keep_alive, upgrade or b"upgrade" in tokens


# Targets repeat (the same routes, again and again): decoding is a pure function of the
# bytes, so short ones are remembered. Bounded in entries and key length, cleared when full.
_TARGETS: dict[bytes, tuple[str, bytes, bytes]] = {}
_TARGETS_MAX = 1024
_TARGET_CACHE_LEN = 256


def split_target(target: bytes, root_path: str) -> tuple[str, bytes, bytes]:
    """Turn a request target into ASGI's (path, raw_path, query_string).

    The root path is prefixed to both paths, as uvicorn does since 0.26.

    Raises:
        ParseError: 400 for a target that is neither origin-form, absolute-form nor "*".
    """
    parts = _TARGETS.get(target)
    if parts is None:
        parts = _decode_target(target)
        if len(target) <= _TARGET_CACHE_LEN:
            if len(_TARGETS) >= _TARGETS_MAX:
                _TARGETS.clear()
            _TARGETS[target] = parts
    if root_path:
        return root_path + parts[0], root_path.encode() + parts[1], parts[2]
    return parts


def _decode_target(target: bytes) -> tuple[str, bytes, bytes]:
    if target[:1] != b"/":
        target = _origin_of(target)
    raw_path, _, query_string = target.partition(b"?")
    if raw_path.isascii() and b"%" not in raw_path:
        return raw_path.decode("ascii"), raw_path, query_string
    return unquote_to_bytes(raw_path).decode("utf-8", "replace"), raw_path, query_string


def _origin_of(target: bytes) -> bytes:
    # RFC 9112 §3.2.2: a server must accept absolute-form; "*" is OPTIONS' asterisk-form,
    # and CONNECT's authority-form is passed on as it came.
    if target == b"*":
        return target
    scheme_end = target.find(b"://")
    if scheme_end > 0:
        path_start = target.find(b"/", scheme_end + 3)
        query_start = target.find(b"?", scheme_end + 3)
        if path_start < 0 or (0 <= query_start < path_start):
            return b"/" + target[query_start:] if query_start >= 0 else b"/"
        return target[path_start:]
    if b"/" not in target and b":" in target:
        return target
    raise ParseError(400, "invalid request target")
