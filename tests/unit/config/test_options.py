from __future__ import annotations

import dataclasses
import ssl
from typing import Any

import click
import pytest
from click.testing import CliRunner

from supervisor.config.convert import FdBind, TcpBind, UnixBind
from supervisor.config.options import ENVVAR_PREFIX, Config, run_params
from supervisor.config.schema import AppConfig
from supervisor.errors import ConfigError

# Every option of `uvicorn --help` that serve implements, plus serve's two additions.
UVICORN_FLAGS = [
    "--host",
    "--port",
    "--uds",
    "--fd",
    "--loop",
    "--http",
    "--ws",
    "--lifespan",
    "--interface",
    "--env-file",
    "--log-config",
    "--log-level",
    "--access-log",
    "--no-access-log",
    "--use-colors",
    "--no-use-colors",
    "--proxy-headers",
    "--no-proxy-headers",
    "--server-header",
    "--no-server-header",
    "--date-header",
    "--no-date-header",
    "--forwarded-allow-ips",
    "--root-path",
    "--limit-concurrency",
    "--backlog",
    "--limit-max-requests",
    "--limit-max-requests-jitter",
    "--timeout-keep-alive",
    "--timeout-graceful-shutdown",
    "--ssl-keyfile",
    "--ssl-certfile",
    "--ssl-keyfile-password",
    "--ssl-version",
    "--ssl-cert-reqs",
    "--ssl-ca-certs",
    "--ssl-ciphers",
    "--header",
    "--app-dir",
    "--h11-max-incomplete-event-size",
    "--factory",
    "--ws-max-size",
    "--ws-max-queue",
    "--ws-ping-interval",
    "--ws-ping-timeout",
    "--ws-per-message-deflate",
    "--reload",
    "--reload-dir",
    "--reload-include",
    "--reload-exclude",
    "--reload-delay",
    "--workers",
    "--timeout-request-header",
    "--max-request-header-size",
]


def app(scope: object, receive: object, send: object) -> None:
    """A callable standing in for an ASGI app object."""


def parse(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Parse `serve run` arguments with the generated options; return the values or fail the test."""
    seen: dict[str, Any] = {}
    command = click.Command(
        "run",
        params=run_params(),
        callback=lambda **values: seen.update(values),
        context_settings={"auto_envvar_prefix": ENVVAR_PREFIX},
    )
    result = CliRunner().invoke(command, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen


def test_defaults_match_uvicorn() -> None:
    config = Config("main:app")
    assert config.app_config == AppConfig(app="main:app")
    assert (config.host, config.port, config.uds, config.fd) == ("127.0.0.1", 8000, None, None)
    assert config.workers == 1
    assert config.log_level == "info"
    assert config.limit_max_requests is None
    assert config.timeout_graceful_shutdown is None
    assert config.ws_ping_interval == 20.0
    assert config.ssl_version == ssl.PROTOCOL_TLS_SERVER
    assert config.ssl_cert_reqs == ssl.CERT_NONE
    assert config.headers == ()
    assert not config.is_ssl


def test_uvicorn_keywords_map_onto_the_schema() -> None:
    config = Config(
        app,
        host="::",
        port=0,
        limit_max_requests=500,
        limit_max_requests_jitter=20,
        timeout_graceful_shutdown=3,
        headers=[("X-A", "1"), "X-B:2"],
        forwarded_allow_ips="10.0.0.1,10.0.0.2",
        reload_dirs="src",
        log_level=10,
        ws="websockets-sansio",
        loop="none",
        ssl_certfile="cert.pem",
    )
    assert config.app is app
    assert config.app_config.bind == (TcpBind("::", 0),)
    assert (config.host, config.port) == ("::", 0)
    assert config.app_config.max_requests == 500
    assert config.limit_max_requests == 500
    assert config.app_config.max_requests_jitter == 20
    assert config.app_config.graceful_timeout == 3.0
    assert config.headers == (("X-A", "1"), ("X-B", "2"))
    assert config.forwarded_allow_ips == ("10.0.0.1", "10.0.0.2")
    assert config.reload_dirs == ("src",)
    assert config.log_level == "debug"
    assert (config.ws, config.loop) == ("websockets", "asyncio")
    assert config.is_ssl


def test_fd_wins_over_uds_which_wins_over_host_and_port() -> None:
    assert Config("m:a", uds="/tmp/a.sock", fd=0).app_config.bind == (FdBind(0),)
    assert Config("m:a", host="0.0.0.0", uds="/tmp/a.sock").app_config.bind == (UnixBind("/tmp/a.sock"),)
    config = Config("m:a", uds="/tmp/a.sock")
    assert (config.uds, config.fd, config.host, config.port) == ("/tmp/a.sock", None, "127.0.0.1", 8000)
    assert Config("m:a", fd=3).fd == 3


def test_none_means_the_default_unless_none_is_a_value() -> None:
    config = Config(
        "m:a",
        host=None,  # type: ignore[arg-type]
        port=None,  # type: ignore[arg-type]
        workers=None,
        log_level=None,
        headers=None,
        limit_max_requests=None,
        ws_ping_interval=None,
        ws_ping_timeout=None,
        timeout_graceful_shutdown=None,
        use_colors=None,
    )
    assert config.app_config.bind == (TcpBind("127.0.0.1", 8000),)
    assert (config.workers, config.log_level, config.headers) == (1, "info", ())
    assert (config.ws_ping_interval, config.ws_ping_timeout) == (None, None)
    assert config.use_colors is None


def test_unknown_keywords_are_a_type_error_with_a_guess() -> None:
    with pytest.raises(
        TypeError, match=r"^Config\(\) got unexpected keyword argument 'worker' \(did you mean 'workers'\?\)$"
    ):
        Config("m:a", worker=2)
    with pytest.raises(TypeError, match=r"arguments 'max_requests' \(did you mean 'limit_max_requests'\?\), 'zzz'$"):
        Config("m:a", zzz=1, max_requests=3)


def test_invalid_values_are_all_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        Config("nocolon", port=70000, workers=0, headers=["ok: 1", "broken"], ws_ping_timeout=0)
    assert str(caught.value).splitlines() == [
        'Config(): app: expected an import string "MODULE:ATTRIBUTE", got "nocolon"',
        "Config(): workers: expected a positive integer, got 0",
        "Config(): ws_ping_timeout: expected a positive number of seconds, or false to turn it off, got 0",
        'Config(): headers[1]: expected a header "Name: Value", got "broken"',
        "Config(): port: expected an integer from 0 to 65535, got 70000",
    ]


def test_a_bad_uds_or_fd_is_reported() -> None:
    with pytest.raises(ConfigError, match=r"^Config\(\): fd: expected an integer, 0 or more, got -1$"):
        Config("m:a", fd=-1)
    with pytest.raises(ConfigError, match=r'^Config\(\): uds: expected a path, got ""$'):
        Config("m:a", uds="")
    with pytest.raises(ConfigError, match=r"^Config\(\): host: expected a host name or IP address"):
        Config("m:a", host="a b")


def test_the_app_is_required() -> None:
    with pytest.raises(ConfigError, match=r'app: expected an import string "MODULE:ATTRIBUTE", got None'):
        Config(None)  # type: ignore[arg-type]


def test_cross_checks_name_the_keyword() -> None:
    with pytest.raises(ConfigError, match=r"^Config\(\): ssl_certfile: required when ssl_keyfile is set"):
        Config("m:a", ssl_keyfile="key.pem")


def test_environment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.1.0.0/16")
    assert Config("m:a").workers == 3
    assert Config("m:a").forwarded_allow_ips == ("10.1.0.0/16",)
    assert Config("m:a", workers=2, forwarded_allow_ips=["*"]).workers == 2
    monkeypatch.setenv("WEB_CONCURRENCY", "lots")
    with pytest.raises(ConfigError, match=r'^Config\(\): WEB_CONCURRENCY: expected a positive integer, got "lots"$'):
        Config("m:a")


def test_config_is_read_only() -> None:
    config = Config("m:a")
    with pytest.raises(AttributeError, match="Config is read-only"):
        config.port = 9000  # type: ignore[misc]
    with pytest.raises(AttributeError, match="has no attribute 'max_requests'"):
        _ = config.max_requests


def test_from_app_config_wraps_a_toml_app() -> None:
    app_config = AppConfig(app="m:a", bind=(UnixBind("/s"), TcpBind("::1", 81)), workers=4)
    config = Config.from_app_config(app_config)
    assert config.app_config is app_config
    assert (config.uds, config.host, config.port, config.workers) == ("/s", "::1", 81, 4)
    replaced = Config.from_app_config(dataclasses.replace(config.app_config, workers=1))
    assert replaced.workers == 1


def test_repr_shows_what_differs_from_the_defaults() -> None:
    assert repr(Config("m:a")) == "Config('m:a')"
    assert repr(Config("m:a", port=9000, workers=2)) == (
        "Config('m:a', bind=(TcpBind(host='127.0.0.1', port=9000),), workers=2)"
    )


def test_from_command_line_names_flags_and_ignores_flags_not_given() -> None:
    config = Config.from_command_line({"app": "m:a", "port": 9000, "headers": (), "use_colors": None}, {})
    assert config.port == 9000
    assert config.use_colors is None
    assert Config.from_command_line({"app": "m:a"}, {"WEB_CONCURRENCY": "2"}).workers == 2
    with pytest.raises(ConfigError) as caught:
        Config.from_command_line({"app": "m:a", "workers": 0, "ssl_keyfile": "k", "headers": ("nope",)}, {})
    assert str(caught.value).splitlines() == [
        "serve run: --workers: expected a positive integer, got 0",
        'serve run: --header[0]: expected a header "Name: Value", got "nope"',
    ]
    with pytest.raises(ConfigError, match=r"^serve run: --ssl-certfile: required when ssl_keyfile is set"):
        Config.from_command_line({"app": "m:a", "ssl_keyfile": "k"}, {})
    with pytest.raises(ConfigError, match=r'^serve run: WEB_CONCURRENCY: expected a positive integer, got "0x"$'):
        Config.from_command_line({"app": "m:a"}, {"WEB_CONCURRENCY": "0x"})


def test_every_uvicorn_flag_is_a_serve_run_option() -> None:
    options = {
        name
        for param in run_params()
        if isinstance(param, click.Option)
        for name in [*param.opts, *param.secondary_opts]
    }
    assert set(UVICORN_FLAGS) <= options
    assert "--version" not in options  # cli.py adds it


def test_every_option_is_named_by_its_config_keyword() -> None:
    for param in run_params():
        assert param.name is not None
        if param.name != "app":
            option: dict[str, Any] = {param.name: None}
            Config("m:a", **option)  # no TypeError: the keyword exists, and None means its default


def test_parsed_flags_build_the_config() -> None:
    values = parse(
        "main:app",
        "--port",
        "0",
        "--workers",
        "2",
        "--no-access-log",
        "--header",
        "X-A:1",
        "--header",
        "X-B: 2",
        "--log-level",
        "TRACE",
        "--ws-per-message-deflate",
        "false",
        "--forwarded-allow-ips",
        "10.0.0.1,10.0.0.2",
        "--limit-max-requests",
        "10",
        "--timeout-graceful-shutdown",
        "2.5",
        "--max-request-header-size",
        "32KiB",
        "--ws",
        "websockets-sansio",
        "--reload-include",
        "*.toml",
    )
    config = Config.from_command_line(values, {})
    assert config.port == 0
    assert config.workers == 2
    assert config.access_log is False
    assert config.headers == (("X-A", "1"), ("X-B", "2"))
    assert config.log_level == "trace"
    assert config.ws_per_message_deflate is False
    assert config.forwarded_allow_ips == ("10.0.0.1", "10.0.0.2")
    assert config.limit_max_requests == 10
    assert config.timeout_graceful_shutdown == 2.5
    assert config.max_request_header_size == 32768
    assert config.ws == "websockets"
    assert config.reload_includes == ("*.toml",)


def test_flags_not_given_are_none() -> None:
    values = parse("main:app")
    assert values["app"] == "main:app"
    assert {name for name, value in values.items() if value not in (None, ())} == {"app"}
    assert Config.from_command_line(values, {}).app_config == AppConfig(app="main:app")


def test_options_come_from_the_environment() -> None:
    values = parse(
        env={"SERVE_APP": "env:app", "SERVE_PORT": "8123", "SERVE_ACCESS_LOG": "false", "SERVE_HEADERS": "A:1 B:2"}
    )
    config = Config.from_command_line(values, {})
    assert (config.app, config.port, config.access_log) == ("env:app", 8123, False)
    assert config.headers == (("A", "1"), ("B", "2"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "http"], "Invalid value for '--port': expected an integer from 0 to 65535, got \"http\""),
        (["--workers", "0"], "Invalid value for '--workers': expected a positive integer, got 0"),
        (["--loop", "trio"], "Invalid value for '--loop'"),
        (["--header", "nocolon"], 'expected a header "Name: Value", got "nocolon"'),
        (["--env-file", "/nonexistent/.env"], "does not exist"),
        (["--timeout-keep-alive", "-1"], "expected a number of seconds, 0 or more"),
    ],
)
def test_bad_flag_values_are_usage_errors(args: list[str], message: str) -> None:
    command = click.Command("run", params=run_params(), callback=lambda **values: None)
    result = CliRunner().invoke(command, ["main:app", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_bad_app_argument_is_a_usage_error() -> None:
    command = click.Command("run", params=run_params(), callback=lambda **values: None)
    result = CliRunner().invoke(command, ["main"])
    assert result.exit_code == 2
    assert 'expected an import string "MODULE:ATTRIBUTE", got "main"' in result.output


def test_help_shows_the_schema_defaults() -> None:
    command = click.Command("run", params=run_params(), callback=lambda **values: None)
    text = " ".join(CliRunner().invoke(command, ["--help"], terminal_width=200).output.split())
    assert "[default: $WEB_CONCURRENCY if set, else 1]" in text
    assert "[default: $FORWARDED_ALLOW_IPS if set, else 127.0.0.1,::1]" in text
    assert "--access-log / --no-access-log Log one line per request. [default: true]" in text
    assert "--reload Restart the app when its source files change. For development. --reload-dir" in text
    assert "--port INTEGER Bind to this port; 0 picks a free one. [default: 8000]" in text
    assert "--loop [auto|asyncio|uvloop]" in text


# uvicorn options serve does not take (none: --http2 is accepted, and refused with the reason).
NOT_IMPLEMENTED: set[str] = set()  # every option of the installed uvicorn's --help is accepted


def test_the_installed_uvicorn_has_no_other_option() -> None:
    uvicorn_main = pytest.importorskip("uvicorn.main")
    theirs = {name for param in uvicorn_main.main.params for name in [*param.opts, *param.secondary_opts]}
    ours = {name for param in run_params() for name in [*param.opts, *param.secondary_opts]}
    assert theirs - ours - {"--version", "APP", "app"} <= NOT_IMPLEMENTED


# uvicorn keywords serve does not take: the options above, and the Python-only hooks of uvicorn's
# own gunicorn worker and TLS setup.
KEYWORDS_NOT_IMPLEMENTED = {
    "callback_notify",
    "timeout_notify",
    "ssl_context_factory",
}


def test_the_installed_uvicorn_config_has_no_other_keyword() -> None:
    import inspect

    uvicorn_config = pytest.importorskip("uvicorn.config")
    theirs = set(inspect.signature(uvicorn_config.Config).parameters) - {"self"}
    accepted: dict[str, Any] = dict.fromkeys(theirs - KEYWORDS_NOT_IMPLEMENTED - {"app"})
    Config("m:a", **accepted)  # None for each: accepted, and means the default
    for name in KEYWORDS_NOT_IMPLEMENTED & theirs:
        refused: dict[str, Any] = {name: None}
        with pytest.raises(TypeError, match=name):
            Config("m:a", **refused)


def test_http2_is_accepted() -> None:
    assert Config("m:a", http2=True).app_config.http2 is True


def test_proxy_protocol_is_refused_over_tls() -> None:
    with pytest.raises(ConfigError, match=r"proxy_protocol: cannot be combined with ssl_certfile"):
        Config("m:a", proxy_protocol=True, ssl_certfile="cert.pem")
    assert Config("m:a", proxy_protocol=True).app_config.proxy_protocol is True


def test_option_types_accept_values_already_converted() -> None:
    port = next(param for param in run_params() if param.name == "port")
    assert port.type.convert(8001, port, None) == 8001
