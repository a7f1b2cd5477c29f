"""ConnectionLimits: what each connection reads of the app's settings, defaulting to the schema's defaults."""

from __future__ import annotations

from supervisor.config.schema import AppConfig
from supervisor.server.state import ConnectionLimits


def test_connection_limits_default_to_the_schemas_defaults() -> None:
    default = AppConfig(app="m:a")
    assert (
        ConnectionLimits() == ConnectionLimits.of(default, http="httptools") == ConnectionLimits.of(default, http="h11")
    )


def test_connection_limits_copy_the_settings() -> None:
    config = AppConfig(
        app="m:a",
        root_path="/api",
        limit_concurrency=10,
        max_requests=100,
        max_request_header_size=4096,
        timeout_keep_alive=1.5,
        timeout_request_header=2.5,
        access_log=False,
    )
    assert ConnectionLimits.of(config, http="httptools") == ConnectionLimits(
        root_path="/api",
        limit_concurrency=10,
        max_requests=100,
        max_head_size=4096,
        timeout_keep_alive=1.5,
        timeout_request_header=2.5,
        access_log=False,
    )


def test_with_h11_the_head_limit_is_h11_max_incomplete_event_size_when_set() -> None:
    config = AppConfig(app="m:a", max_request_header_size=4096, h11_max_incomplete_event_size=1024)
    assert ConnectionLimits.of(config, http="h11").max_head_size == 1024
    assert ConnectionLimits.of(config, http="httptools").max_head_size == 4096


def test_with_h11_an_explicit_max_request_header_size_smaller_than_h11s_still_holds() -> None:
    # Was h11's alone: --max-request-header-size 32768 let a 150 KB head through.
    config = AppConfig(app="m:a", max_request_header_size=32768, h11_max_incomplete_event_size=200000)
    assert ConnectionLimits.of(config, http="h11").max_head_size == 32768


def test_with_h11_alone_set_it_replaces_the_default_head_limit_either_way() -> None:
    larger = AppConfig(app="m:a", h11_max_incomplete_event_size=200000)
    assert ConnectionLimits.of(larger, http="h11").max_head_size == 200000  # as uvicorn's only knob
    assert ConnectionLimits.of(larger, http="httptools").max_head_size == 65536
    smaller = AppConfig(app="m:a", h11_max_incomplete_event_size=16384)
    assert ConnectionLimits.of(smaller, http="h11").max_head_size == 16384
