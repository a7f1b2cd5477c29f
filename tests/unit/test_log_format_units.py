"""logs: JSON lines, access_log_format's lines, and log configs written for uvicorn."""

from __future__ import annotations

import json
import logging
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from supervisor import logs
from supervisor.errors import ConfigError
from supervisor.logs import JsonFormatter, configure_logging, iso_time, local_time, log_access, log_request

pytestmark = pytest.mark.usefixtures("restore_logging")


def configure(**overrides: Any) -> None:
    options: dict[str, Any] = {
        "log_config": None,
        "log_level": "info",
        "use_colors": False,
        "access_log": True,
        "log_format": "text",
    }
    options.update(overrides)
    configure_logging(**options)


def scope(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/items",
        "raw_path": b"/items",
        "query_string": b"page=2",
        "http_version": "1.1",
        "client": ("127.0.0.1", 5000),
        "headers": [(b"x-request-id", b"abc123")],
    }
    base.update(changes)
    return base


def request(**changes: Any) -> None:
    log_request(scope(**changes), 404, [(b"content-type", b"text/plain")], 9, 0.0123)


def objects(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_unset_format_writes_uvicorns_line_as_log_access_does(capsys: pytest.CaptureFixture[str]) -> None:
    configure()
    request()
    log_access("127.0.0.1:5000", "GET", "/items?page=2", "1.1", 404, 0.0123)
    first, second = capsys.readouterr().out.splitlines()
    assert first == second == 'INFO:     127.0.0.1:5000 - "GET /items?page=2 HTTP/1.1" 404 Not Found 12.3ms'


def test_an_access_log_format_is_the_whole_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure(access_log_format='%(h)s "%(r)s" %(s)s %(b)s %({x-request-id}i)s %({content-type}o)s %(M)sms')
    request()
    request(client=None)
    assert capsys.readouterr().out.splitlines() == [
        '127.0.0.1 "GET /items?page=2 HTTP/1.1" 404 9 abc123 text/plain 12ms',
        '- "GET /items?page=2 HTTP/1.1" 404 9 abc123 text/plain 12ms',
    ]


def test_the_time_atom_is_the_common_log_formats(capsys: pytest.CaptureFixture[str]) -> None:
    configure(access_log_format="%(t)s %(p)s")
    request()
    request()
    first, second = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] <\d+>", first)
    assert second.split(" <")[0] in (first.split(" <")[0], second.split(" <")[0])


def test_a_bad_access_log_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"access_log_format: unknown atom %\(x\)s"):
        configure(access_log_format="%(x)s")


def test_json_lines_carry_the_app_worker_and_pid(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVE_APP", "api")
    monkeypatch.setenv("SERVE_WORKER_ID", "3")
    configure(log_format="json")
    logs.error_logger.warning("careful: %s", "disk")
    request()
    captured = capsys.readouterr()
    (error,) = objects(captured.err)
    assert set(error) == {"ts", "level", "logger", "app", "worker", "pid", "message"}
    assert (error["level"], error["logger"], error["app"], error["worker"]) == ("WARNING", "serve.error", "api", 3)
    assert error["message"] == "careful: disk"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", error["ts"])
    (access,) = objects(captured.out)
    assert access["logger"] == "serve.access"
    assert access["message"] == '127.0.0.1:5000 - "GET /items?page=2 HTTP/1.1" 404'
    expected = {
        "method": "GET",
        "path": "/items?page=2",
        "status": 404,
        "duration_ms": 12.3,
        "client": "127.0.0.1:5000",
    }
    assert {key: access[key] for key in expected} == expected
    assert access["bytes"] == 9


def test_json_with_an_access_log_format_uses_it_as_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    configure(log_format="json", access_log_format="%(s)s %(U)s")
    request()
    (access,) = objects(capsys.readouterr().out)
    assert (access["message"], access["status"], access["worker"]) == ("404 /items", 404, None)


def test_json_keeps_the_traceback_and_stack() -> None:
    formatter = JsonFormatter(app="api", worker=0, fmt="ignored")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("serve.error").makeRecord(
            "serve.error", logging.ERROR, __file__, 1, "failed", (), exc_info=__import__("sys").exc_info()
        )
    record.stack_info = "Stack (most recent call last):"
    entry = json.loads(formatter.format(record))
    assert entry["app"] == "api"
    assert entry["worker"] == 0
    assert "RuntimeError: boom" in entry["exc"]
    assert entry["stack"].startswith("Stack")


def test_free_text_on_the_access_logger_is_a_plain_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure(log_format="json")
    logs.access_logger.info("hello %s", "there")
    (entry,) = objects(capsys.readouterr().out)
    assert entry["message"] == "hello there"
    assert "status" not in entry


def test_times() -> None:
    assert iso_time(0.25) == "1970-01-01T00:00:00.250Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d{4}", local_time(1767229200.5))


def uvicorn_dict(log_file: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(client_addr)s - "%(request_line)s" %(status_code)s',
                "use_colors": False,
            }
        },
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(log_file), "formatter": "access"}},
        "loggers": {"uvicorn.access": {"handlers": ["file"], "level": "INFO", "propagate": False}},
    }


def test_a_uvicorn_dict_config_is_taken_as_serves(tmp_path: Path) -> None:
    log_file = tmp_path / "access.log"
    config = uvicorn_dict(log_file)
    configure(log_config=config)
    request()
    for handler in logs.access_logger.handlers:
        handler.flush()
    assert log_file.read_text() == '127.0.0.1:5000 - "GET /items?page=2 HTTP/1.1" 404 Not Found\n'
    assert "uvicorn.access" in config["loggers"]  # the caller's dict is left as it was


def test_a_config_naming_serves_loggers_is_left_alone(tmp_path: Path) -> None:
    config = uvicorn_dict(tmp_path / "access.log")
    config["loggers"]["serve.access"] = {"level": "INFO"}
    assert logs._from_uvicorn(config) is config


def test_a_uvicorn_ini_config_is_taken_as_serves(tmp_path: Path) -> None:
    log_file = tmp_path / "error.log"
    config_file = tmp_path / "logging.ini"
    config_file.write_text(
        textwrap.dedent(
            f"""
            [loggers]
            keys=root,uvicorn_error

            [handlers]
            keys=file

            [formatters]
            keys=plain

            [logger_root]
            level=WARNING
            handlers=

            [logger_uvicorn_error]
            level=INFO
            handlers=file
            qualname=uvicorn.error
            propagate=0

            [handler_file]
            class=FileHandler
            formatter=plain
            args=({str(log_file)!r},)

            [formatter_plain]
            class=uvicorn.logging.DefaultFormatter
            format=%(levelprefix)s %(name)s %(message)s
            """
        )
    )
    configure(log_config=str(config_file))
    logs.error_logger.info("from a uvicorn ini")
    for handler in logs.error_logger.handlers:
        handler.flush()
    assert log_file.read_text() == "INFO:     serve.error from a uvicorn ini\n"
