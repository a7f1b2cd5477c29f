"""Values derived from the settings take the schema's defaults: serve run's master, the defaults maps."""

from __future__ import annotations

import dataclasses
import math

from supervisor.config.convert import TcpBind
from supervisor.config.schema import (
    APP_DEFAULTS,
    APP_SETTINGS,
    BIND_KEYWORDS,
    SERVER_DEFAULTS,
    AppConfig,
    ServerSection,
    server_for_one_app,
)
from supervisor.master.actions import PoolLimits


def test_the_defaults_maps_hold_every_declared_default() -> None:
    app = AppConfig(app="m:a")
    assert {
        field.name: getattr(app, field.name) for field in dataclasses.fields(app) if field.name != "app"
    } == APP_DEFAULTS
    section = ServerSection()
    assert {f.name: getattr(section, f.name) for f in dataclasses.fields(section)} == SERVER_DEFAULTS
    assert "app" not in APP_DEFAULTS  # required: it has no default
    assert len(APP_DEFAULTS) == len(APP_SETTINGS) - 1


def test_serve_run_binds_where_uvicorn_does_by_default() -> None:
    host, port, *_ = BIND_KEYWORDS
    assert APP_DEFAULTS["bind"] == (TcpBind(host.default, port.default),)


def test_serve_runs_master_without_a_drain_limit_waits_for_in_flight_requests_as_uvicorn() -> None:
    server = server_for_one_app(AppConfig(app="m:a"))
    # No limit, as documented for serve run (was [server]'s 30 s: a 40 s request was SIGKILLed).
    assert server.graceful_timeout == math.inf
    assert PoolLimits.of(AppConfig(app="m:a"), server).graceful_timeout_s == math.inf
    assert server.healthcheck_timeout == APP_DEFAULTS["timeout_worker_healthcheck"]  # uvicorn's 5 s, not [server]'s
    assert server.startup_timeout == SERVER_DEFAULTS["startup_timeout"]
    assert server.control_socket == ""  # serve run has no control socket
    assert server.log_level == "info"


def test_serve_runs_master_takes_uvicorns_options_for_the_keys_it_owns() -> None:
    app = AppConfig(app="m:a", graceful_timeout=7.5, timeout_worker_healthcheck=3.0, log_level="debug")
    assert server_for_one_app(app) == ServerSection(
        control_socket="", graceful_timeout=7.5, healthcheck_timeout=3.0, log_level="debug", log_timestamps=False
    )


def test_serve_runs_master_logs_as_uvicorn_does_in_the_apps_format() -> None:
    server = server_for_one_app(AppConfig(app="m:a", log_format="json"))
    assert (server.log_format, server.log_timestamps) == ("json", False)


def test_a_drain_limit_of_zero_is_kept_not_taken_for_unset() -> None:
    assert server_for_one_app(AppConfig(app="m:a", graceful_timeout=0.0)).graceful_timeout == 0.0


def test_unix_sockets_are_made_connectable_by_any_local_user_as_uvicorn_makes_them() -> None:
    # Was the umask's (0o755 under umask 022): a proxy running as another user could not connect.
    assert APP_DEFAULTS["uds_mode"] == 0o666
