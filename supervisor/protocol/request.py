"""Request-head policy shared by both parser fronts: framing and smuggling rules, the request target.

httptools (llhttp) and h11 each reject some bad heads and accept others (h11 takes
Content-Length beside Transfer-Encoding, obs-fold, "HTTP/2.7"; llhttp takes "gzip, chunked"
and a missing Host). Every head passes through `inspect_head`, so both fronts refuse the
same requests and answer them the same way.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote_to_bytes

from supervisor._types import Headers
from supervisor.errors import ParseError

# Only these names change how a request is framed or answered; every other header is
# skipped with one set lookup, which keeps the per-request cost at a few hundred ns.
# The X-Forwarded-* names are only noted: a request without them (most) skips the proxy
# headers' own pass over the headers (asgi/proxy_headers.py reads them).
_FORWARDED = frozenset((b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-port"))
_WATCHED = (
    frozenset((b"content-length", b"transfer-encoding", b"connection", b"expect", b"host", b"upgrade", b"te"))
    | _FORWARDED
)
_MAX_CONTENT_LENGTH_DIGITS = 18  # fits in a C int64: larger values are nonsense or an attack

UPGRADE_NONE = b""

# The methods llhttp parses. It stops inside any other method, before the app could be
# called, so the httptools front cannot serve one; the h11 front refuses them too, and
# both answer an unknown token 501 (RFC 9110 §9.1, §15.6.2), anything else 400.
SERVED_METHODS = frozenset(
    b"ACL BIND CHECKOUT CONNECT COPY DELETE GET HEAD LINK LOCK M-SEARCH MERGE MKACTIVITY MKCALENDAR"
    b" MKCOL MOVE NOTIFY OPTIONS PATCH POST PROPFIND PROPPATCH PURGE PUT QUERY REBIND REPORT SEARCH"
    b" SOURCE SUBSCRIBE TRACE UNBIND UNLINK UNLOCK UNSUBSCRIBE".split()
)
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def method_refusal(method: bytes, *, then_space: bool) -> ParseError:
    """How to refuse a request line starting with `method` that neither front serves.

    `then_space` says whether a space follows it (a request line can only go on that way).
    """
    if method == b"PRI":  # the HTTP/2 connection preface, as llhttp reads it
        return ParseError(505, "HTTP/2 connection preface on an HTTP/1.1 port")
    if then_space and TOKEN.fullmatch(method):
        return ParseError(501, f"method {method.decode('ascii')} not implemented")
    return ParseError(400, "invalid method")


def inspect_head(http_version: str, headers: Headers) -> tuple[bool, bool, bytes, bool, bool]:
    """Validate the framing headers of a request head, and read the few that steer the answer.

    One pass over the headers per request: the response side's questions (trailers) are
    answered here too rather than by a second scan.

    Args:
        http_version: "1.1" or "1.0" as the front read it.
        headers: the head's headers, names lowercased.

    Returns:
        (keep_alive, expect_100_continue, upgrade, trailers, forwarded) where `upgrade` is
        the lowercased `Upgrade` value when `Connection: upgrade` asks for it, else b"",
        `trailers` says an HTTP/1.1 client's `TE` takes trailers (RFC 9110 §10.1.4), and
        `forwarded` that an X-Forwarded-For, -Proto or -Port header is present.

    Raises:
        ParseError: 400 for an ambiguous or malformed head, 505 for another HTTP version.
    """
    if http_version not in ("1.1", "1.0"):
        raise ParseError(505, f"HTTP version {http_version} not supported")
    expect_continue = trailers = forwarded = False
    upgrade = UPGRADE_NONE
    seen = hosts = connection = 0
    for name, value in headers:
        if name not in _WATCHED:
            continue
        if name == b"host":  # the one watched header nearly every request has: counted inline
            hosts += 1 if value in _HOSTS else _check_host(value)  # a known Host: one set lookup
        elif name == b"connection":  # the common values without a split; every field counts
            connection |= _COMMON_CONNECTION.get(value) or _connection_tokens(value)
        elif name == b"expect":
            expect_continue = value.lower() == b"100-continue"
        elif name == b"upgrade":
            upgrade = value.strip().lower()
        elif name == b"te":
            trailers = trailers or _takes_trailers(value)
        elif name in _FORWARDED:
            forwarded = True  # only noted: asgi/proxy_headers.py reads them, from a trusted peer
        else:
            seen = _check_framing(name, value, seen)
    if seen & _BOTH_LENGTHS == _BOTH_LENGTHS:
        # RFC 9112 §6.1: the classic smuggling pair; refuse rather than pick one.
        raise ParseError(400, "both Content-Length and Transfer-Encoding")
    if hosts != 1 and (hosts or http_version == "1.1"):  # RFC 9112 §3.2: exactly one (1.0 may have none)
        raise ParseError(400, "more than one Host" if hosts else "missing Host")
    http_11 = http_version == "1.1"
    return (
        # RFC 9112 §9.3, §9.6: a close anywhere ends it; else 1.1 stays open, 1.0 only when asked.
        not connection & _CLOSE and (http_11 or bool(connection & _KEEP_ALIVE)),
        expect_continue and http_11,
        upgrade if connection & _UPGRADE else UPGRADE_NONE,
        trailers and http_11,
        forwarded,
    )


_CONTENT_LENGTH, _TRANSFER_ENCODING = 1, 2
_BOTH_LENGTHS = _CONTENT_LENGTH | _TRANSFER_ENCODING
_FRAMING_BITS = {b"content-length": _CONTENT_LENGTH, b"transfer-encoding": _TRANSFER_ENCODING}


def _check_framing(name: bytes, value: bytes, seen: int) -> int:
    bit = _FRAMING_BITS[name]
    if seen & bit:
        # RFC 9112 §6.3: several lengths make the framing unknowable.
        raise ParseError(400, f"more than one {name.decode('ascii').title()}")
    if bit == _CONTENT_LENGTH:
        if not value.isdigit() or len(value) > _MAX_CONTENT_LENGTH_DIGITS:
            raise ParseError(400, "invalid Content-Length")
    elif bit == _TRANSFER_ENCODING and value.strip().lower() != b"chunked":
        # RFC 9112 §6.1: we decode only chunked; anything else would hand the app undecoded bytes.
        raise ParseError(400, "unsupported Transfer-Encoding")
    return seen | bit


def _takes_trailers(te: bytes) -> bool:
    return any(item.partition(b";")[0].strip().lower() == b"trailers" for item in te.split(b","))


_CLOSE, _KEEP_ALIVE, _UPGRADE = 1, 2, 4
_COMMON_CONNECTION = {b"close": _CLOSE, b"keep-alive": _KEEP_ALIVE}


def _connection_tokens(value: bytes) -> int:
    """The Connection options named in one field value, as _CLOSE | _KEEP_ALIVE | _UPGRADE bits."""
    lowered = value.lower()
    tokens = [t.strip() for t in lowered.split(b",")] if b"," in lowered else [lowered.strip()]
    return (
        (_CLOSE if b"close" in tokens else 0)
        | (_KEEP_ALIVE if b"keep-alive" in tokens else 0)
        | (_UPGRADE if b"upgrade" in tokens else 0)
    )


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
    if b"#" in target:
        # A fragment is never sent (RFC 9110 §7.1) but may be: dropped, as uvicorn's httptools
        # parser drops it, on both fronts alike. Here only on a cache miss.
        target = target.partition(b"#")[0]
    raw_path, _, query_string = target.partition(b"?")
    if raw_path.isascii() and b"%" not in raw_path:
        return raw_path.decode("ascii"), raw_path, query_string
    return unquote_to_bytes(raw_path).decode("utf-8", "replace"), raw_path, query_string


def check_target_form(method: bytes, target: bytes) -> None:
    """Refuse an authority-form target (`host:port`) on any method but CONNECT (RFC 9112 §3.2.3).

    `split_target` does not know the method, so a front that hears it calls this first;
    llhttp already refuses such a request line, so only the h11 front needs to.

    Raises:
        ParseError: 400 for a target that is neither origin-form, absolute-form nor "*"
            on a method other than CONNECT.
    """
    # Only absolute-form and origin-form hold a "/": any other target but "*" is
    # authority-form or nothing valid at all.
    if method != b"CONNECT" and b"/" not in target and target != b"*":
        raise ParseError(400, "authority-form target on a method other than CONNECT")


def _origin_of(target: bytes) -> bytes:
    # RFC 9112 §3.2.2: a server must accept absolute-form; "*" is OPTIONS' asterisk-form,
    # and CONNECT's authority-form is passed on as it came (check_target_form refuses it
    # for the other methods).
    if target == b"*":
        return target
    scheme_end = target.find(b"://")
    if scheme_end > 0 and _SCHEME.fullmatch(target, 0, scheme_end):
        authority_start = scheme_end + 3
        authority_end = len(target)
        for stop in (b"/", b"?"):
            found = target.find(stop, authority_start)
            if 0 <= found < authority_end:
                authority_end = found
        _check_authority(target[authority_start:authority_end])
        rest = target[authority_end:]
        return rest if rest[:1] == b"/" else b"/" + rest
    if b"/" not in target and b":" in target:
        _check_authority(target)
        return target
    raise ParseError(400, "invalid request target")


_SCHEME = re.compile(rb"[A-Za-z][A-Za-z0-9+\-.]*")  # RFC 3986 §3.1
# RFC 3986 §3.2.2-3: host [ ":" port ], the host a reg-name (IPv4 is one) or an IP-literal.
_HOST_PORT = (
    rb"(?:(?:(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+)"
    rb"|\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|\[v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+\])"
    rb"(?::[0-9]*)?"
)
# RFC 3986 §3.2: [ userinfo "@" ] host [ ":" port ].
_AUTHORITY = re.compile(rb"(?:(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*@)?" + _HOST_PORT)
_HOST = re.compile(_HOST_PORT)


def _check_authority(authority: bytes) -> None:
    # RFC 9112 §3.2.2 and RFC 9110 §4.2.1: a target whose host is missing or malformed is
    # refused, never served as whatever path follows it.
    if not _is_host(_AUTHORITY, authority):
        raise ParseError(400, "invalid authority in request target")


# Host values repeat even more than targets (one per site): the valid ones are remembered,
# so a known Host costs `inspect_head` one set lookup. Bounded in entries and key length,
# cleared when full.
_HOSTS: set[bytes] = set()
_HOSTS_MAX = 1024
_HOST_CACHE_LEN = 300  # a DNS name (253) and a port, with room


def _check_host(value: bytes) -> int:
    """Check a Host value not seen yet and remember it; 1, the Host it counts for."""
    # RFC 9112 §3.2: a Host with an invalid value is answered 400. An empty one is what a
    # client sends when the target URI has no authority, so it passes.
    if value and not _is_host(_HOST, value):
        raise ParseError(400, "invalid Host")
    if len(value) <= _HOST_CACHE_LEN:
        if len(_HOSTS) >= _HOSTS_MAX:
            _HOSTS.clear()
        _HOSTS.add(value)
    return 1


def _is_host(grammar: re.Pattern[bytes], text: bytes) -> bool:
    match = grammar.fullmatch(text)
    if match is None:
        return False
    ipv6 = match["ipv6"]
    if ipv6 is not None:
        try:
            ipaddress.IPv6Address(ipv6.decode("ascii"))
        except ValueError:
            return False
    return True
