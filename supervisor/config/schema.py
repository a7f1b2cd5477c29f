"""THE declaration of every setting: type, default, bounds, help, TOML key, `serve run` flag, uvicorn keyword.

The TOML loader, the `serve run` options, the uvicorn-compatible `Config` keywords and
docs/reference.md are all generated from the field metadata below; a setting declared
anywhere else is a bug.
"""

from __future__ import annotations

import dataclasses
import math
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from supervisor.config.access_format import AccessLogFormat
from supervisor.config.convert import Bind, TcpBind
from supervisor.config.kinds import (
    Address,
    Boolean,
    Choice,
    Environment,
    FilePath,
    Header,
    Hooks,
    Host,
    Integer,
    Kind,
    ListOf,
    LogConfig,
    LogLevel,
    Maybe,
    Mode,
    Networks,
    Seconds,
    Size,
    Target,
    Text,
)

METADATA_KEY = "serve"

# uvicorn's address when none is given: the default bind and the defaults of --host and --port.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


@dataclass(frozen=True, slots=True)
class Key:
    """What one setting is and where it can be written.

    Attributes:
        help: the user documentation of the setting (it is the settings reference).
        kind: the value's shape (checks, command-line parsing, TOML spelling).
        flag: the `serve run` flag, uvicorn's spelling; "--x/--no-x" for a pair; None: not on the command line.
        keyword: the `Config(...)` keyword, uvicorn's name; None: not in the Python API.
        toml: accepted in [apps.NAME] and [defaults] tables.
        flag_takes_value: a boolean flag that takes a value (uvicorn's `--ws-per-message-deflate BOOLEAN`).
        fallback_env: an environment variable `serve run` and `Config` read when the setting is not given.
        toml_home: for a setting TOML spells elsewhere, where (shown for a misplaced key).
    """

    help: str
    kind: Kind
    flag: str | None = None
    keyword: str | None = None
    toml: bool = True
    flag_takes_value: bool = False
    fallback_env: str | None = None
    toml_home: str | None = None


@dataclass(frozen=True, slots=True)
class Setting:
    """A declared setting with its name and default, as the generators see it."""

    name: str
    key: Key
    default: Any  # dataclasses.MISSING for a required setting

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING


class _UnsetLevel(str):
    """`log_level`'s default, told apart from the same level given: under a log config, only a given level applies."""

    __slots__ = ()


DEFAULT_LOG_LEVEL: str = _UnsetLevel("info")


def log_level_given(app: AppConfig) -> bool:
    """Whether `app.log_level` was set (flag, environment, TOML key, keyword) rather than left at its default."""
    return not isinstance(app.log_level, _UnsetLevel)


def _key(help: str, kind: Kind, **where: Any) -> dict[str, Key]:  # noqa: A002 - the metadata is called help everywhere
    return {METADATA_KEY: Key(help, kind, **where)}


_AUTO_ASYNCIO_UVLOOP = Choice("auto", "asyncio", "uvloop", aliases={"none": "asyncio"})
_SECONDS = Seconds()
_PING = Maybe(Seconds(positive=True), off=False)
_PING_INTERVAL = Maybe(Seconds(), off=False)  # 0 turns pings off, as in uvicorn


@dataclass(frozen=True, slots=True, kw_only=True)
class AppConfig:
    """One application: what to import, where to listen, how many workers, and the protocol options."""

    name: str = field(
        default="app",
        metadata=_key(
            "The app's name: NAME in its [apps.NAME] table. It labels log lines, metrics and the dashboard.",
            Text(),
            toml=False,
        ),
    )
    app: str | Callable[..., Any] = field(
        metadata=_key(
            'What to serve: "MODULE:ATTRIBUTE", the import string of an ASGI application (or of a factory, with'
            " factory). Imported in each worker after fork, unless preload is set. The Python API also takes the"
            " application object itself.",
            Target(),
            keyword="app",
        )
    )
    factory: bool = field(
        default=False,
        metadata=_key(
            "Treat app as an application factory: a callable taking no arguments that returns the ASGI application.",
            Boolean(),
            flag="--factory",
            keyword="factory",
        ),
    )
    interface: str = field(
        default="auto",
        metadata=_key(
            "The interface the application speaks: asgi3, asgi2 or wsgi. auto tells ASGI 2 from ASGI 3 by inspecting it.",
            Choice("auto", "asgi3", "asgi2", "wsgi"),
            flag="--interface",
            keyword="interface",
        ),
    )
    app_dir: str = field(
        default="",
        metadata=_key(
            "Directory put first on sys.path before app is imported. Empty: the current working directory.",
            FilePath(allow_empty=True),
            flag="--app-dir",
            keyword="app_dir",
        ),
    )
    env: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}),
        metadata=_key(
            "Environment variables set in the app's workers before the app is imported. They win over env_file"
            " and over the environment serve was started in.",
            Environment(),
        ),
    )
    env_file: str | None = field(
        default=None,
        metadata=_key(
            "A dotenv file whose variables are set before the app is imported. A variable already set in the"
            " environment serve was started in keeps that value; env, in a TOML file, wins over both.",
            Maybe(FilePath(must_exist=True)),
            flag="--env-file",
            keyword="env_file",
        ),
    )
    bind: tuple[Bind, ...] = field(
        default=(TcpBind(DEFAULT_HOST, DEFAULT_PORT),),
        metadata=_key(
            "Addresses to listen on: HOST:PORT, [V6]:PORT, unix:PATH, or fd://N for an inherited listening socket."
            " The master binds each once and every worker accepts on it. serve run and the Python API take"
            " uvicorn's host and port, uds or fd instead.",
            ListOf(
                Address(),
                expected='a list of addresses such as ["127.0.0.1:8000", "unix:/run/app.sock"]',
                nonempty=True,
            ),
        ),
    )
    uds_mode: int | None = field(
        # uvicorn's (and, through its umask 0, gunicorn's): a proxy running as another user can
        # connect. The directory's permissions, or 0o660 and a shared group, narrow it.
        default=0o666,
        metadata=_key(
            "File mode given to unix: sockets once bound. The default lets any local user connect, as with"
            " uvicorn; 0o660 limits it to the owner and the socket's group (a proxy's user joins that group).",
            Maybe(Mode()),
        ),
    )
    backlog: int = field(
        default=2048,
        metadata=_key(
            "How many connections the kernel may queue on each listening socket before accept.",
            Integer(1),
            flag="--backlog",
            keyword="backlog",
        ),
    )
    workers: int = field(
        default=1,
        metadata=_key(
            "Worker processes for this app.",
            Integer(1),
            flag="--workers",
            keyword="workers",
            fallback_env="WEB_CONCURRENCY",
        ),
    )
    preload: bool = field(
        default=False,
        metadata=_key(
            "Import the app once in the master, before forking, so workers share its memory pages."
            " Only a starting master imports it (serve up, serve upgrade): a reload imports nothing in the"
            " master, its new workers import the app themselves and find a module imported at start unchanged."
            " Otherwise each worker imports it after fork, and a reload picks up new code.",
            Boolean(),
        ),
    )
    loop: str = field(
        default="auto",
        metadata=_key(
            "Event loop: asyncio, uvloop, or auto (uvloop when it is installed). uvicorn's none means asyncio.",
            _AUTO_ASYNCIO_UVLOOP,
            flag="--loop",
            keyword="loop",
        ),
    )
    http: str = field(
        default="auto",
        metadata=_key(
            "HTTP/1.1 parser: httptools, h11, or auto (httptools when it is installed).",
            Choice("auto", "httptools", "h11"),
            flag="--http",
            keyword="http",
        ),
    )
    ws: str = field(
        default="auto",
        metadata=_key(
            "WebSocket support: websockets, none (upgrade requests reach the app as plain HTTP), or auto (websockets when it is"
            " installed). uvicorn's websockets-sansio is the same implementation.",
            Choice("auto", "none", "websockets", aliases={"websockets-sansio": "websockets"}),
            flag="--ws",
            keyword="ws",
        ),
    )
    ws_max_size: int = field(
        default=16777216,
        metadata=_key(
            "Largest WebSocket message accepted, in bytes; a larger one closes the connection with code 1009.",
            Size(minimum=1),
            flag="--ws-max-size",
            keyword="ws_max_size",
        ),
    )
    ws_max_queue: int = field(
        default=32,
        metadata=_key(
            "How many received WebSocket messages may wait for the application before reading pauses.",
            Integer(1),
            flag="--ws-max-queue",
            keyword="ws_max_queue",
        ),
    )
    ws_ping_interval: float | None = field(
        default=20.0,
        metadata=_key(
            "Seconds between pings sent to each WebSocket client. 0, false in TOML or None in Python: no pings.",
            _PING_INTERVAL,
            flag="--ws-ping-interval",
            keyword="ws_ping_interval",
        ),
    )
    ws_ping_timeout: float | None = field(
        default=20.0,
        metadata=_key(
            "Seconds to wait for the pong before closing the WebSocket. false in TOML, None in Python: wait forever.",
            _PING,
            flag="--ws-ping-timeout",
            keyword="ws_ping_timeout",
        ),
    )
    ws_per_message_deflate: bool = field(
        default=True,
        metadata=_key(
            "Offer WebSocket clients per-message compression (the permessage-deflate extension).",
            Boolean(),
            flag="--ws-per-message-deflate",
            keyword="ws_per_message_deflate",
            flag_takes_value=True,
        ),
    )
    lifespan: str = field(
        default="auto",
        metadata=_key(
            "ASGI lifespan events: on requires the application to handle them, off never sends them,"
            " auto sends them and carries on if the application does not support them.",
            Choice("auto", "on", "off"),
            flag="--lifespan",
            keyword="lifespan",
        ),
    )
    log_level: str = field(
        default=DEFAULT_LOG_LEVEL,
        metadata=_key(
            "Lowest level the server logs: critical, error, warning, info, debug, or trace (which adds every ASGI message).",
            LogLevel(),
            flag="--log-level",
            keyword="log_level",
        ),
    )
    access_log: bool = field(
        default=True,
        metadata=_key(
            "Log one line per request.", Boolean(), flag="--access-log/--no-access-log", keyword="access_log"
        ),
    )
    access_log_format: str | None = field(
        default=None,
        metadata=_key(
            "The access line, in gunicorn's access_log_format atoms: %(h)s %(r)s %(s)s %(M)sms and the others"
            " docs/operations.md lists. Unset: uvicorn's line. An unknown atom is an error.",
            Maybe(AccessLogFormat()),
            flag="--access-log-format",
            keyword="access_log_format",
        ),
    )
    log_format: str = field(
        default="text",
        metadata=_key(
            "How log lines are written: text, as uvicorn writes them, or json, one object per line (ts, level,"
            " logger, app, worker, pid, message; access lines add method, path, status, duration_ms, client,"
            " bytes).",
            Choice("text", "json"),
            flag="--log-format",
            keyword="log_format",
        ),
    )
    log_config: str | dict[str, Any] | None = field(
        default=None,
        metadata=_key(
            "Logging configuration replacing the built-in one: a .ini (fileConfig), .json or .yaml file, or,"
            " in TOML and Python, a table in logging.config.dictConfig form.",
            Maybe(LogConfig()),
            flag="--log-config",
            keyword="log_config",
        ),
    )
    use_colors: bool | None = field(
        default=None,
        metadata=_key(
            "Colour the log output. Unset: only when it goes to a terminal.",
            Maybe(Boolean()),
            flag="--use-colors/--no-use-colors",
            keyword="use_colors",
        ),
    )
    proxy_headers: bool = field(
        default=True,
        metadata=_key(
            "Take the client address and URL scheme from X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Port,"
            " when the connection comes from an address in forwarded_allow_ips.",
            Boolean(),
            flag="--proxy-headers/--no-proxy-headers",
            keyword="proxy_headers",
        ),
    )
    forwarded_allow_ips: tuple[str, ...] = field(
        default=("127.0.0.1", "::1"),
        metadata=_key(
            'Who may send proxy headers: IP addresses, CIDR networks, "unix:" for a proxy connecting over a unix socket,'
            " or * for anyone."
            " On the command line, a comma-separated list.",
            Networks(),
            flag="--forwarded-allow-ips",
            keyword="forwarded_allow_ips",
            fallback_env="FORWARDED_ALLOW_IPS",
        ),
    )
    proxy_protocol: bool = field(
        default=False,
        metadata=_key(
            "Expect every connection to start with a PROXY protocol header, v1 or v2 (HAProxy send-proxy, an AWS"
            " Network Load Balancer), whose source address becomes the client address. Only peers in"
            " forwarded_allow_ips may connect; a connection from another peer, or without a valid header, is"
            " closed before it reaches the app. The header counts against timeout_request_header.",
            Boolean(),
            flag="--proxy-protocol",
            keyword="proxy_protocol",
        ),
    )
    server_header: bool = field(
        default=True,
        metadata=_key(
            "Send a Server header with every response.",
            Boolean(),
            flag="--server-header/--no-server-header",
            keyword="server_header",
        ),
    )
    date_header: bool = field(
        default=True,
        metadata=_key(
            "Send a Date header with every response.",
            Boolean(),
            flag="--date-header/--no-date-header",
            keyword="date_header",
        ),
    )
    headers: tuple[tuple[str, str], ...] = field(
        default=(),
        metadata=_key(
            'Extra headers sent with every response, each "Name: Value". On the command line, repeat --header.',
            ListOf(Header(), expected='a list of headers such as ["X-Frame-Options: DENY"]'),
            flag="--header",
            keyword="headers",
        ),
    )
    root_path: str = field(
        default="",
        metadata=_key(
            "The ASGI root_path: the URL prefix under which a proxy mounts the application, such as /api.",
            Text(),
            flag="--root-path",
            keyword="root_path",
        ),
    )
    limit_concurrency: int | None = field(
        default=None,
        metadata=_key(
            "Most connections and tasks a worker handles at once; beyond it, requests are answered 503. Unset: no limit.",
            Maybe(Integer(1)),
            flag="--limit-concurrency",
            keyword="limit_concurrency",
        ),
    )
    max_requests: int = field(
        default=0,
        metadata=_key(
            "Retire a worker after this many requests; its replacement starts first, so no capacity is lost."
            " 0: never. With serve run, the process exits, as uvicorn's does.",
            Integer(0),
            flag="--limit-max-requests",
            keyword="limit_max_requests",
        ),
    )
    max_requests_jitter: int = field(
        default=0,
        metadata=_key(
            "Each worker retires after max_requests plus a random 0 to this many requests, so workers do not retire together.",
            Integer(0),
            flag="--limit-max-requests-jitter",
            keyword="limit_max_requests_jitter",
        ),
    )
    max_memory: int = field(
        default=0,
        metadata=_key(
            'Retire a worker whose resident memory exceeds this: bytes, or a size such as "512MiB" or "1G". 0: no limit.',
            Size(),
        ),
    )
    timeout_keep_alive: float = field(
        default=5.0,
        metadata=_key(
            "Close a keep-alive connection that stays idle this many seconds between requests.",
            _SECONDS,
            flag="--timeout-keep-alive",
            keyword="timeout_keep_alive",
        ),
    )
    timeout_request_header: float = field(
        default=10.0,
        metadata=_key(
            "Seconds a client has to send a whole request head (request line and headers); then it is answered 408."
            " With TLS, also the time its handshake may take.",
            Seconds(positive=True),
            flag="--timeout-request-header",
            keyword="timeout_request_header",
        ),
    )
    graceful_timeout: float | None = field(
        default=None,
        metadata=_key(
            "Seconds in-flight requests may take to finish when the server stops before they are cancelled."
            " Unset: wait for them. In a TOML file it is [server] graceful_timeout, for every app.",
            Maybe(_SECONDS),
            flag="--timeout-graceful-shutdown",
            keyword="timeout_graceful_shutdown",
            toml=False,
            toml_home="[server] graceful_timeout",
        ),
    )
    h11_max_incomplete_event_size: int | None = field(
        default=None,
        metadata=_key(
            "With the h11 parser, the largest request head accepted, in bytes (uvicorn's name for it). It"
            " replaces max_request_header_size's default; when both are set, the smaller applies. Unset:"
            " max_request_header_size (64 KiB).",
            Maybe(Size(minimum=1)),
            flag="--h11-max-incomplete-event-size",
            keyword="h11_max_incomplete_event_size",
        ),
    )
    max_request_header_size: int = field(
        default=65536,
        metadata=_key(
            "Largest request head (request line and headers) accepted, in bytes; a larger one is answered 431.",
            Size(minimum=1),
            flag="--max-request-header-size",
            keyword="max_request_header_size",
        ),
    )
    ssl_keyfile: str | None = field(
        default=None,
        metadata=_key("TLS private key file (PEM).", Maybe(FilePath()), flag="--ssl-keyfile", keyword="ssl_keyfile"),
    )
    ssl_certfile: str | None = field(
        default=None,
        metadata=_key(
            "TLS certificate chain file (PEM); setting it turns TLS on.",
            Maybe(FilePath()),
            flag="--ssl-certfile",
            keyword="ssl_certfile",
        ),
    )
    ssl_keyfile_password: str | None = field(
        default=None,
        metadata=_key(
            "Password of an encrypted ssl_keyfile.",
            Maybe(Text()),
            flag="--ssl-keyfile-password",
            keyword="ssl_keyfile_password",
        ),
    )
    ssl_version: int = field(
        default=int(ssl.PROTOCOL_TLS_SERVER),
        metadata=_key(
            "TLS protocol, as a constant of Python's ssl module (17 is PROTOCOL_TLS_SERVER).",
            Integer(0),
            flag="--ssl-version",
            keyword="ssl_version",
        ),
    )
    ssl_cert_reqs: int = field(
        default=int(ssl.CERT_NONE),
        metadata=_key(
            "Client certificates: 0 not asked for (ssl.CERT_NONE), 1 optional, 2 required.",
            Integer(0, 2),
            flag="--ssl-cert-reqs",
            keyword="ssl_cert_reqs",
        ),
    )
    ssl_ca_certs: str | None = field(
        default=None,
        metadata=_key(
            "CA certificates file used to verify client certificates.",
            Maybe(FilePath()),
            flag="--ssl-ca-certs",
            keyword="ssl_ca_certs",
        ),
    )
    ssl_ciphers: str | None = field(
        default=None,
        metadata=_key(
            "OpenSSL cipher list. Unset: OpenSSL's defaults.",
            Maybe(Text(nonempty=True)),
            flag="--ssl-ciphers",
            keyword="ssl_ciphers",
        ),
    )
    user: str | None = field(
        default=None,
        metadata=_key(
            "Run the app's workers as this user (a name, or a numeric id as a string), switched to after fork."
            " The master must run as root.",
            Maybe(Text(nonempty=True, expected="a user name or id, as a string")),
        ),
    )
    group: str | None = field(
        default=None,
        metadata=_key(
            "Run the app's workers in this group (a name, or a numeric id as a string), switched to after fork.",
            Maybe(Text(nonempty=True, expected="a group name or id, as a string")),
        ),
    )
    reload: bool = field(
        default=False,
        metadata=_key(
            "Restart the app when its source files change. For development.",
            Boolean(),
            flag="--reload",
            keyword="reload",
        ),
    )
    reload_dirs: tuple[str, ...] = field(
        default=(),
        metadata=_key(
            "Directories watched by reload. Empty: under serve run the working directory, as uvicorn (and app_dir"
            " too when it lies outside it); under serve up the app's app_dir, else the working directory.",
            ListOf(FilePath(must_exist=True), expected="a list of directories", single_ok=True),
            flag="--reload-dir",
            keyword="reload_dirs",
        ),
    )
    reload_includes: tuple[str, ...] = field(
        default=(),
        metadata=_key(
            "Glob patterns of files whose changes trigger a reload, added to *.py.",
            ListOf(Text(nonempty=True), expected="a list of glob patterns", single_ok=True),
            flag="--reload-include",
            keyword="reload_includes",
        ),
    )
    reload_excludes: tuple[str, ...] = field(
        default=(),
        metadata=_key(
            "Glob patterns of files whose changes are ignored, added to .*, .py[cod], .sw.* and ~*.",
            ListOf(Text(nonempty=True), expected="a list of glob patterns", single_ok=True),
            flag="--reload-exclude",
            keyword="reload_excludes",
        ),
    )
    reset_contextvars: bool = field(
        default=False,
        metadata=_key(
            "Run every request in a fresh, empty contextvars context, so nothing an app set in one request's"
            " context is seen by the next (uvicorn's workaround for leaking contexts).",
            Boolean(),
            flag="--reset-contextvars",
            keyword="reset_contextvars",
            toml=False,
        ),
    )
    http2: bool = field(
        default=False,
        metadata=_key(
            "Serve HTTP/2 besides HTTP/1.1: offered by ALPN over TLS, taken in cleartext from a connection that"
            " opens with the HTTP/2 preface (prior knowledge) or asks for Upgrade: h2c. See docs/http2.md.",
            Boolean(),
            flag="--http2",
            keyword="http2",
        ),
    )
    h2_max_concurrent_streams: int = field(
        default=100,
        metadata=_key(
            "HTTP/2: streams a client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS).",
            Integer(minimum=1, maximum=2**31 - 1),
            flag="--h2-max-concurrent-streams",
            keyword="h2_max_concurrent_streams",
        ),
    )
    h2_initial_window_size: int = field(
        default=65535,
        metadata=_key(
            "HTTP/2: bytes of request body a client may send on a stream before the app reads them"
            " (SETTINGS_INITIAL_WINDOW_SIZE): with the 64 KiB the server buffers, what one stream can hold.",
            Integer(minimum=1, maximum=2**31 - 1),
            flag="--h2-initial-window-size",
            keyword="h2_initial_window_size",
        ),
    )
    h2_max_header_list_size: int | None = field(
        default=None,
        metadata=_key(
            "HTTP/2: largest decoded request header list (RFC 9113 §6.5.2 counting, 32 bytes per field), also the"
            " most bytes of HEADERS and CONTINUATION frames in one block. Unset: max_request_header_size.",
            Maybe(Size(minimum=1)),
            flag="--h2-max-header-list-size",
            keyword="h2_max_header_list_size",
        ),
    )
    h2_max_header_fields: int = field(
        default=100,
        metadata=_key(
            "HTTP/2: most header fields in one request; more closes the connection (HPACK bombs cost little to send).",
            Integer(minimum=1),
            flag="--h2-max-header-fields",
            keyword="h2_max_header_fields",
        ),
    )
    h2_max_streams_per_connection: int = field(
        default=10000,
        metadata=_key(
            "HTTP/2: streams served on one connection; then a graceful GOAWAY asks the client for a new one.",
            Integer(minimum=1),
            flag="--h2-max-streams-per-connection",
            keyword="h2_max_streams_per_connection",
        ),
    )
    h2_reset_budget: int = field(
        default=200,
        metadata=_key(
            "HTTP/2: stream resets per connection per minute, the client's RST_STREAM and those it provokes from the"
            " server together (rapid reset, MadeYouReset); more closes it with ENHANCE_YOUR_CALM.",
            Integer(minimum=1),
            flag="--h2-reset-budget",
            keyword="h2_reset_budget",
        ),
    )
    h2_control_frame_budget: int = field(
        default=1000,
        metadata=_key(
            "HTTP/2: frames that bring no request (SETTINGS, PING and their ACKs, PRIORITY, WINDOW_UPDATE, GOAWAY,"
            " empty DATA, unknown types) per connection per second (each DATA frame the server sends earns two"
            " back); more closes it with ENHANCE_YOUR_CALM.",
            Integer(minimum=1),
            flag="--h2-control-frame-budget",
            keyword="h2_control_frame_budget",
        ),
    )
    h2_max_continuation_frames: int = field(
        default=16,
        metadata=_key(
            "HTTP/2: CONTINUATION frames after one HEADERS frame; more closes the connection (CONTINUATION flood).",
            Integer(minimum=0),
            flag="--h2-max-continuation-frames",
            keyword="h2_max_continuation_frames",
        ),
    )
    h2_stall_timeout: float = field(
        default=30.0,
        metadata=_key(
            "HTTP/2: seconds a stream may wait on a client window of zero with response bytes to send (then it is"
            " reset and its buffer freed), and a connection whose client reads nothing (then it is closed).",
            Seconds(positive=True),
            flag="--h2-stall-timeout",
            keyword="h2_stall_timeout",
        ),
    )
    timeout_worker_healthcheck: float = field(
        default=5.0,
        metadata=_key(
            "With --workers: a worker whose event loop has not ticked for this many seconds is killed and"
            " replaced. In a TOML file it is [server] healthcheck_timeout.",
            Seconds(positive=True),
            flag="--timeout-worker-healthcheck",
            keyword="timeout_worker_healthcheck",
            toml=False,
            toml_home="[server] healthcheck_timeout",
        ),
    )
    reload_delay: float = field(
        default=0.25,
        metadata=_key(
            "Seconds between two checks for changed files.",
            _SECONDS,
            flag="--reload-delay",
            keyword="reload_delay",
        ),
    )
    log_file: str | None = field(
        default=None,
        metadata=_key(
            "Also append the app's log lines (worker output, access and error logs) to this file.",
            Maybe(FilePath()),
        ),
    )
    hooks: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}),
        metadata=_key(
            'Functions called in each worker, written "module:function" in an [apps.NAME.hooks] table:'
            " post_fork after fork and the switch to user, before the app is imported (where OpenTelemetry and"
            " database pools are set up; a failure is a failed start), worker_exit as the worker exits. Each"
            " is imported in the worker, with app_dir on sys.path, and called with a HookContext"
            " (docs/operations.md, Hooks).",
            Hooks("post_fork", "worker_exit"),
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSection:
    """The [server] table: the master process itself."""

    control_socket: str = field(
        default="serve.sock",
        metadata=_key(
            "Unix socket on which the running master answers serve status, top, logs, reload, scale and stop;"
            " created with mode 0600. A relative path is relative to the TOML file.",
            FilePath(),
        ),
    )
    pid_file: str | None = field(
        default=None,
        metadata=_key(
            'File the master writes its pid to; "" writes none. A relative path is relative to the TOML file.',
            Maybe(FilePath(), off=""),
        ),
    )
    log_level: str = field(default="info", metadata=_key("Lowest level the master logs.", LogLevel()))
    log_format: str = field(
        default="text",
        metadata=_key(
            "The master's own lines: text, or json (one object per line, as an app's log_format json).",
            Choice("text", "json"),
        ),
    )
    log_timestamps: bool = field(
        default=True,
        metadata=_key(
            "Start each line serve up writes (worker output, the master's own, log_file lines) with the local"
            " time; serve run leaves it off, as uvicorn does. JSON lines carry ts instead.",
            Boolean(),
        ),
    )
    graceful_timeout: float = field(
        default=30.0,
        metadata=_key(
            "Seconds a worker may drain on stop, reload or retirement before it is killed (SIGKILL);"
            " every app's graceful_timeout.",
            _SECONDS,
        ),
    )
    healthcheck_timeout: float = field(
        default=30.0,
        metadata=_key(
            "A worker whose event loop has not ticked for this many seconds is killed (SIGABRT, which dumps its"
            " stack) and replaced.",
            Seconds(positive=True),
        ),
    )
    startup_timeout: float = field(
        default=60.0,
        metadata=_key(
            "A new worker not ready (app imported, lifespan started) within this many seconds is killed;"
            " on reload, the old generation keeps serving.",
            Seconds(positive=True),
        ),
    )
    tui: str = field(
        default="auto",
        metadata=_key("The live dashboard: on, off, or auto (when stdout is a terminal).", Choice("auto", "on", "off")),
    )
    metrics_bind: Bind | None = field(
        default=None,
        metadata=_key(
            'Address serving Prometheus metrics at /metrics, such as "127.0.0.1:9100"; "" serves none.',
            Maybe(Address(), off=""),
        ),
    )
    health_bind: Bind | None = field(
        default=None,
        metadata=_key(
            'Address serving /livez and /readyz for orchestrators, such as "127.0.0.1:9101"; "" serves none.',
            Maybe(Address(), off=""),
        ),
    )
    watch_config: bool = field(default=False, metadata=_key("Reload when the TOML file changes.", Boolean()))
    hooks: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}),
        metadata=_key(
            'Functions the master calls, written "module:function" in a [server.hooks] table: on_starting before'
            " it binds and forks (a failure stops it, exit code 1), when_ready once every app's first workers are"
            " ready, on_reload as a reload begins (a failure refuses the reload). Each is imported in the master,"
            " with the current directory on sys.path, and called with a HookContext (docs/operations.md, Hooks).",
            Hooks("on_starting", "when_ready", "on_reload"),
        ),
    )


@dataclass(frozen=True, slots=True)
class ServeFile:
    """A whole validated TOML file: `path` is absolute, `apps` keeps the file's order."""

    path: str
    server: ServerSection
    apps: Mapping[str, AppConfig]


def settings_of(cls: type[AppConfig] | type[ServerSection]) -> tuple[Setting, ...]:
    """The declared settings of a section, in declaration order."""
    return tuple(
        Setting(
            item.name,
            item.metadata[METADATA_KEY],
            item.default_factory() if item.default_factory is not dataclasses.MISSING else item.default,
        )
        for item in dataclasses.fields(cls)
    )


APP_SETTINGS = settings_of(AppConfig)
SERVER_SETTINGS = settings_of(ServerSection)

# Each setting's default by name, for runtime values derived from settings (the pool's and the
# connections' limits): they default to exactly what is declared above, never to a copy.
APP_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {item.name: item.default for item in APP_SETTINGS if not item.required}
)
SERVER_DEFAULTS: Mapping[str, Any] = MappingProxyType({item.name: item.default for item in SERVER_SETTINGS})


def server_for_one_app(app: AppConfig) -> ServerSection:
    """The [server] table of the master `serve run --workers N` (or --reload) starts for `app` alone.

    uvicorn's options fill the keys the master owns: timeout_graceful_shutdown is graceful_timeout
    and timeout_worker_healthcheck is healthcheck_timeout. Unset, timeout_graceful_shutdown means
    no limit (math.inf): the master waits for in-flight requests, as uvicorn does and as a single
    serve run process does, rather than SIGKILL them at [server]'s 30 s; a second Ctrl-C still
    stops at once. There is no control socket, and the master logs at the app's level. The other
    way round, a TOML file's [server] graceful_timeout becomes each app's own (config/loader.py).
    """
    return ServerSection(
        control_socket="",
        graceful_timeout=math.inf if app.graceful_timeout is None else app.graceful_timeout,
        healthcheck_timeout=app.timeout_worker_healthcheck,
        log_level=app.log_level,
        log_format=app.log_format,
        log_timestamps=False,
    )


# uvicorn's four ways to say where to listen; serve run and Config turn them into `bind`
# (fd first, then uds, then host and port, as uvicorn chooses).
BIND_KEYWORDS = (
    Setting(
        "host",
        Key("Bind to this host; an IPv6 address needs no brackets.", Host(), flag="--host", keyword="host", toml=False),
        DEFAULT_HOST,
    ),
    Setting(
        "port",
        Key("Bind to this port; 0 picks a free one.", Integer(0, 65535), flag="--port", keyword="port", toml=False),
        DEFAULT_PORT,
    ),
    Setting(
        "uds",
        Key("Bind to this Unix domain socket instead.", Maybe(FilePath()), flag="--uds", keyword="uds", toml=False),
        None,
    ),
    Setting(
        "fd",
        Key(
            "Serve on the listening socket open as this file descriptor instead.",
            Maybe(Integer(0)),
            flag="--fd",
            keyword="fd",
            toml=False,
        ),
        None,
    ),
)
