from __future__ import annotations

import dataclasses
import re

import pytest

from supervisor.config.kinds import Boolean, Maybe
from supervisor.config.schema import APP_SETTINGS, BIND_KEYWORDS, SERVER_SETTINGS, AppConfig, ServerSection, Setting

EVERY = (*APP_SETTINGS, *SERVER_SETTINGS, *BIND_KEYWORDS)

SPEC_APP_KEYS = [
    "app",
    "factory",
    "interface",
    "app_dir",
    "env",
    "env_file",
    "bind",
    "uds_mode",
    "backlog",
    "workers",
    "preload",
    "loop",
    "http",
    "ws",
    "ws_max_size",
    "ws_max_queue",
    "ws_ping_interval",
    "ws_ping_timeout",
    "ws_per_message_deflate",
    "lifespan",
    "log_level",
    "access_log",
    "access_log_format",
    "log_format",
    "log_config",
    "use_colors",
    "proxy_headers",
    "forwarded_allow_ips",
    "proxy_protocol",
    "server_header",
    "date_header",
    "headers",
    "root_path",
    "limit_concurrency",
    "max_requests",
    "max_requests_jitter",
    "max_memory",
    "timeout_keep_alive",
    "timeout_request_header",
    "h11_max_incomplete_event_size",
    "max_request_header_size",
    "ssl_keyfile",
    "ssl_certfile",
    "ssl_keyfile_password",
    "ssl_version",
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ciphers",
    "user",
    "group",
    "reload",
    "reload_dirs",
    "reload_includes",
    "reload_excludes",
    "http2",
    "h2_max_concurrent_streams",
    "h2_initial_window_size",
    "h2_max_header_list_size",
    "h2_max_header_fields",
    "h2_max_streams_per_connection",
    "h2_reset_budget",
    "h2_control_frame_budget",
    "h2_max_continuation_frames",
    "h2_stall_timeout",
    "reload_delay",
    "log_file",
    "hooks",
]

SPEC_SERVER_KEYS = [
    "control_socket",
    "pid_file",
    "log_level",
    "log_format",
    "log_timestamps",
    "graceful_timeout",
    "healthcheck_timeout",
    "startup_timeout",
    "tui",
    "metrics_bind",
    "health_bind",
    "watch_config",
    "hooks",
]


def test_the_toml_keys_are_exactly_the_specs() -> None:
    assert [s.name for s in APP_SETTINGS if s.key.toml] == SPEC_APP_KEYS
    assert [s.name for s in SERVER_SETTINGS] == SPEC_SERVER_KEYS


@pytest.mark.parametrize("setting", EVERY, ids=lambda s: s.name)
def test_each_setting_is_declared_completely(setting: Setting) -> None:
    key = setting.key
    assert key.help.endswith(".")
    assert key.help[0].isupper()
    if key.flag:
        assert re.fullmatch(r"--[a-z0-9-]+(/--no-[a-z0-9-]+)?", key.flag)
        assert key.keyword, "a flag needs the keyword it fills"
        if "/" in key.flag:
            inner = key.kind.inner if isinstance(key.kind, Maybe) else key.kind
            assert isinstance(inner, Boolean)
    if not setting.required:
        assert key.kind.convert(setting.default) == setting.default


def test_sections_are_frozen_slotted_and_keyword_only() -> None:
    for cls in (AppConfig, ServerSection):
        assert "__slots__" in vars(cls)
        assert all(field.kw_only for field in dataclasses.fields(cls))
    with pytest.raises(dataclasses.FrozenInstanceError):
        AppConfig(app="m:a").workers = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        AppConfig("m:a")  # type: ignore[call-arg]


def test_flags_and_keywords_are_unique() -> None:
    flags = [s.key.flag for s in (*APP_SETTINGS, *BIND_KEYWORDS) if s.key.flag]
    keywords = [s.key.keyword for s in (*APP_SETTINGS, *BIND_KEYWORDS) if s.key.keyword]
    assert len(flags) == len(set(flags))
    assert len(keywords) == len(set(keywords))
