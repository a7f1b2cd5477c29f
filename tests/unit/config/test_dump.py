from __future__ import annotations

import textwrap

from supervisor._compat import parse_toml
from supervisor.config.dump import dump_toml, toml_value
from supervisor.config.loader import load_text

FILE = textwrap.dedent(
    """\
    [server]
    pid_file = "serve.pid"
    graceful_timeout = 12
    metrics_bind = "[::1]:9100"

    [defaults]
    workers = 2

    [apps.api]
    app = "examples.api:app"
    bind = ["127.0.0.1:8000", "unix:/tmp/api.sock"]
    uds_mode = 0o660
    env = { DATABASE_URL = "sqlite:///x", "WITH.DOT" = "tab\\there" }
    headers = ["X-Frame-Options: DENY"]
    ws_ping_interval = false
    log_config = { version = 1, loggers = { serve = { level = "INFO", handlers = ["h"] } } }
    max_memory = "512MiB"

    [apps.chat-2]
    app = "examples.chat:app"
    bind = ["fd://3"]
    """
)


def test_the_dump_loads_back_to_the_same_file() -> None:
    serve_file = load_text(FILE, "/srv/serve.toml")
    dumped = dump_toml(serve_file)
    assert load_text(dumped, "/srv/serve.toml") == serve_file


def test_the_dump_shows_every_setting_resolved() -> None:
    dumped = dump_toml(load_text(FILE, "/srv/serve.toml"))
    lines = dumped.splitlines()
    assert lines[0] == "# /srv/serve.toml, as serve reads it: every setting, defaults included."
    assert 'control_socket = "/srv/serve.sock"' in lines
    assert 'pid_file = "/srv/serve.pid"' in lines
    assert "[apps.chat-2]" in lines
    assert "workers = 2" in lines
    assert 'uds_mode = "0o660"' in lines
    assert "# env_file: not set" in lines
    assert "ws_ping_interval = false" in lines
    assert 'bind = ["127.0.0.1:8000", "unix:/tmp/api.sock"]' in lines
    assert f"max_memory = {512 * 1024 * 1024}" in lines
    assert "graceful_timeout = 12.0" in lines
    assert sum(line.startswith("graceful_timeout") for line in lines) == 1  # [server] only
    assert parse_toml(dumped)["apps"]["api"]["env"] == {"DATABASE_URL": "sqlite:///x", "WITH.DOT": "tab\there"}


def test_toml_value() -> None:
    assert toml_value(True) == "true"
    assert toml_value(1.5) == "1.5"
    assert toml_value({}) == "{}"
    assert toml_value(["a", 1]) == '["a", 1]'
    assert toml_value('quote" back\\ del\x7f') == '"quote\\" back\\\\ del\\u007f"'
    tricky = 'quote" back\\ del\x7f é'
    assert parse_toml("k = " + toml_value(tricky))["k"] == tricky
