"""logs: uvicorn-style lines, colours, the access switch and every kind of --log-config."""

from __future__ import annotations

import io
import json
import logging
import sys
import textwrap
from pathlib import Path

import pytest

from supervisor import logs
from supervisor.errors import ConfigError
from supervisor.logs import (
    AccessFormatter,
    DefaultFormatter,
    access_enabled,
    colours_wanted,
    configure_logging,
    format_duration,
    log_access,
)

GREEN, RED, BRIGHT_RED, BRIGHT_WHITE, YELLOW, BOLD, RESET = (
    "\x1b[32m",
    "\x1b[31m",
    "\x1b[91m",
    "\x1b[97m",
    "\x1b[33m",
    "\x1b[1m",
    "\x1b[0m",
)


pytestmark = pytest.mark.usefixtures("restore_logging")


def configure(**overrides: object) -> None:
    options: dict[str, object] = {
        "log_config": None,
        "log_level": "info",
        "use_colors": None,
        "access_log": True,
        "log_format": "text",
    }
    options.update(overrides)
    configure_logging(**options)  # type: ignore[arg-type]


# -- default configuration --------------------------------------------------------------------


def test_default_error_line_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure()
    logs.error_logger.info("Started server process [%d]", 42)
    logs.error_logger.warning("careful")
    captured = capsys.readouterr()
    assert captured.err == "INFO:     Started server process [42]\nWARNING:  careful\n"
    assert captured.out == ""


def test_default_access_line_goes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    configure()
    log_access("127.0.0.1:5000", "GET", "/path?q=1", "1.1", 200, 0.0012)
    assert capsys.readouterr().out == 'INFO:     127.0.0.1:5000 - "GET /path?q=1 HTTP/1.1" 200 OK 1.2ms\n'


def test_no_colours_when_the_stream_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    configure(use_colors=None)
    logs.error_logger.error("plain")
    log_access("127.0.0.1:5000", "GET", "/", "1.1", 500, 0.5)
    captured = capsys.readouterr()
    assert "\x1b[" not in captured.err + captured.out


def test_forced_colours(capsys: pytest.CaptureFixture[str]) -> None:
    configure(use_colors=True)
    logs.error_logger.info("hello")
    log_access("127.0.0.1:5000", "POST", "/items", "1.0", 404, 2.5)
    captured = capsys.readouterr()
    assert captured.err == f"{GREEN}INFO{RESET}:     hello\n"
    assert captured.out == (
        f'{GREEN}INFO{RESET}:     127.0.0.1:5000 - "{BOLD}POST /items HTTP/1.0{RESET}" {RED}404 Not Found{RESET} 2.50s\n'
    )


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        (101, f"{BRIGHT_WHITE}101 Switching Protocols{RESET}"),
        (200, f"{GREEN}200 OK{RESET}"),
        (304, f"{YELLOW}304 Not Modified{RESET}"),
        (503, f"{BRIGHT_RED}503 Service Unavailable{RESET}"),
        (299, f"{GREEN}299{RESET}"),
        (799, "799"),
    ],
)
def test_status_colours_by_class(status: int, shown: str) -> None:
    formatter = AccessFormatter(use_colors=True)
    record = logging.makeLogRecord(
        {
            "name": "serve.access",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": '%s - "%s %s HTTP/%s" %d',
            "args": ("1.2.3.4:1", "GET", "/", "1.1", status),
        }
    )
    assert formatter.format(record).endswith(f" {shown} ")  # no duration extra: empty field


def test_color_message_is_used_only_with_colours() -> None:
    record = logging.makeLogRecord(
        {"levelno": logging.INFO, "levelname": "INFO", "msg": "plain %s", "args": ("x",), "color_message": "fancy %s"}
    )
    assert DefaultFormatter(use_colors=True).format(record) == f"{GREEN}INFO{RESET}:     fancy x"
    assert DefaultFormatter(use_colors=False).format(record) == "INFO:     plain x"


def test_unknown_and_long_level_names() -> None:
    record = logging.makeLogRecord({"levelno": 25, "levelname": "VERYLONGNAME", "msg": "m"})
    assert DefaultFormatter(use_colors=True).format(record) == "VERYLONGNAME: m"


def test_access_formatter_tolerates_free_text() -> None:
    record = logging.makeLogRecord({"levelno": logging.INFO, "levelname": "INFO", "msg": "just words"})
    assert AccessFormatter(use_colors=False).format(record) == 'INFO:     - - "just words" - '


def test_formatters_default_to_their_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr("sys.stdout", Terminal())
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert AccessFormatter().use_colors is True
    assert DefaultFormatter().use_colors is False


@pytest.mark.parametrize(
    ("use_colors", "isatty", "no_color", "expected"),
    [
        (True, False, "", True),
        (False, True, "", False),
        (None, True, "", True),
        (None, False, "", False),
        (None, True, "1", False),
        (None, None, "", False),
    ],
)
def test_colours_wanted(
    monkeypatch: pytest.MonkeyPatch, use_colors: bool | None, isatty: bool | None, no_color: str, expected: bool
) -> None:
    monkeypatch.setenv("NO_COLOR", no_color)

    class Stream:
        pass

    stream = Stream()
    if isatty is not None:
        stream.isatty = lambda: isatty  # type: ignore[attr-defined]
    assert colours_wanted(use_colors, stream) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.0, "0.0ms"), (0.00031, "0.3ms"), (0.0125, "12.5ms"), (0.9994, "999.4ms"), (1.25, "1.25s")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


# -- access switch and levels -----------------------------------------------------------------


def test_access_log_off_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    configure(access_log=False)
    assert access_enabled() is False
    log_access("127.0.0.1:5000", "GET", "/", "1.1", 200, 0.001)
    assert capsys.readouterr().out == ""


def test_access_log_on_again_after_off(capsys: pytest.CaptureFixture[str]) -> None:
    configure(access_log=False)
    configure(access_log=True)
    assert access_enabled() is True
    log_access("127.0.0.1:5000", "GET", "/", "1.1", 200, 0.001)
    assert "GET / HTTP/1.1" in capsys.readouterr().out


def test_access_log_follows_the_level(capsys: pytest.CaptureFixture[str]) -> None:
    configure(log_level="warning")
    assert access_enabled() is False
    log_access("127.0.0.1:5000", "GET", "/", "1.1", 200, 0.001)
    assert capsys.readouterr().out == ""


def test_debug_and_trace_levels(capsys: pytest.CaptureFixture[str]) -> None:
    configure(log_level="TRACE")
    logs.error_logger.log(logs.TRACE, "very detailed")
    logs.error_logger.debug("detailed")
    assert capsys.readouterr().err == "TRACE:    very detailed\nDEBUG:    detailed\n"
    assert logging.getLevelName(5) == "TRACE"


def test_info_level_hides_debug(capsys: pytest.CaptureFixture[str]) -> None:
    configure(log_level="info")
    logs.error_logger.debug("hidden")
    assert capsys.readouterr().err == ""


def test_unknown_level_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match='log_level: expected one of critical, error, warning, info, debug, trace, got "loud"'
    ):
        configure(log_level="loud")


def test_no_level_keeps_what_the_config_sets(capsys: pytest.CaptureFixture[str]) -> None:
    config = logs.default_config(use_colors=False)
    config["loggers"]["serve.error"]["level"] = "ERROR"
    configure(log_config=config, log_level=None)
    logs.error_logger.warning("hidden")
    logs.error_logger.error("shown")
    assert capsys.readouterr().err == "ERROR:    shown\n"


# -- --log-config files and dicts -------------------------------------------------------------


def file_config(log_file: Path) -> dict[str, object]:
    """A dictConfig sending serve.error to a file with a recognisable format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(name)s|%(levelname)s|%(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(log_file), "formatter": "plain"}},
        "loggers": {"serve": {"handlers": ["file"], "level": "INFO", "propagate": False}},
    }


def flush_serve_handlers() -> None:
    for handler in logging.getLogger("serve").handlers:
        handler.flush()


def test_dict_config(tmp_path: Path) -> None:
    log_file = tmp_path / "serve.log"
    configure(log_config=file_config(log_file))
    logs.error_logger.info("from a dict")
    flush_serve_handlers()
    assert log_file.read_text() == "serve.error|INFO|from a dict\n"


def test_dict_config_gets_use_colors_on_our_formatters_only(capsys: pytest.CaptureFixture[str]) -> None:
    config = logs.default_config(use_colors=False)
    config["formatters"]["access"]["()"] = "supervisor.logs.AccessFormatter"
    config["formatters"]["other"] = {"format": "%(message)s"}
    configure(log_config=config, use_colors=True)
    logs.error_logger.info("coloured")
    log_access("1.2.3.4:5", "GET", "/", "1.1", 200, 0.001)
    captured = capsys.readouterr()
    assert captured.err.startswith(f"{GREEN}INFO{RESET}")
    assert captured.out.startswith(f"{GREEN}INFO{RESET}")
    assert config["formatters"]["default"]["use_colors"] is False  # the caller's dict is not changed


def test_invalid_dict_config() -> None:
    with pytest.raises(ConfigError, match=r"<log_config>: invalid logging configuration: ValueError: .*"):
        configure(log_config={"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}})


def test_json_file(tmp_path: Path) -> None:
    log_file = tmp_path / "serve.log"
    config_file = tmp_path / "logging.json"
    config_file.write_text(json.dumps(file_config(log_file)))
    configure(log_config=str(config_file))
    logs.error_logger.warning("from json")
    flush_serve_handlers()
    assert log_file.read_text() == "serve.error|WARNING|from json\n"


def test_yaml_file(tmp_path: Path) -> None:
    log_file = tmp_path / "serve.log"
    config_file = tmp_path / "logging.yml"
    config_file.write_text(
        textwrap.dedent(
            f"""
            version: 1
            disable_existing_loggers: false
            formatters:
              plain: {{format: "%(name)s|%(message)s"}}
            handlers:
              file: {{class: logging.FileHandler, filename: "{log_file}", formatter: plain}}
            loggers:
              serve: {{handlers: [file], level: INFO, propagate: false}}
            """
        )
    )
    configure(log_config=str(config_file))
    logs.error_logger.info("from yaml")
    flush_serve_handlers()
    assert log_file.read_text() == "serve.error|from yaml\n"


def test_ini_file(tmp_path: Path) -> None:
    log_file = tmp_path / "serve.log"
    config_file = tmp_path / "logging.ini"
    config_file.write_text(
        textwrap.dedent(
            f"""
            [loggers]
            keys=root,serve

            [handlers]
            keys=file

            [formatters]
            keys=plain

            [logger_root]
            level=WARNING
            handlers=

            [logger_serve]
            level=INFO
            handlers=file
            qualname=serve
            propagate=0

            [handler_file]
            class=FileHandler
            formatter=plain
            args=({str(log_file)!r},)

            [formatter_plain]
            format=%(name)s|%(message)s
            """
        )
    )
    configure(log_config=str(config_file))
    logs.error_logger.info("from ini")
    flush_serve_handlers()
    assert log_file.read_text() == "serve.error|from ini\n"


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        configure(log_config=str(missing))
    assert str(info.value) == f"{missing}: log config file not found"


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    config_file = tmp_path / "logging.json"
    config_file.write_text('{\n  "version": 1,\n  oops\n}\n')
    with pytest.raises(ConfigError) as info:
        configure(log_config=str(config_file))
    [problem] = info.value.problems
    assert (problem.file, problem.line) == (str(config_file), 3)
    assert problem.message.startswith("invalid JSON: ")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    config_file = tmp_path / "logging.yaml"
    config_file.write_text("version: 1\nloggers: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        configure(log_config=str(config_file))
    [problem] = info.value.problems
    assert problem.line is not None
    assert problem.line >= 2
    assert problem.message.startswith("invalid YAML: ")


def test_yaml_error_without_a_position(tmp_path: Path) -> None:
    config_file = tmp_path / "logging.yaml"
    config_file.write_text("!!python/object:os.system {}\n")  # refused by safe_load, no problem_mark
    with pytest.raises(ConfigError, match="invalid YAML: "):
        configure(log_config=str(config_file))


def test_non_mapping_file(tmp_path: Path) -> None:
    config_file = tmp_path / "logging.json"
    config_file.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="expected a mapping at the top level, got list"):
        configure(log_config=str(config_file))


def test_unreadable_file(tmp_path: Path) -> None:
    config_file = tmp_path / "logging.json"
    config_file.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="cannot read: UnicodeDecodeError"):
        configure(log_config=str(config_file))


def test_invalid_ini_file(tmp_path: Path) -> None:
    config_file = tmp_path / "logging.ini"
    config_file.write_text("[loggers]\nkeys=root\n")
    with pytest.raises(ConfigError, match=r"logging.ini: invalid logging configuration: "):
        configure(log_config=str(config_file))


def test_invalid_dict_in_json_file_names_the_file(tmp_path: Path) -> None:
    config_file = tmp_path / "logging.json"
    config_file.write_text('{"version": 2}')
    with pytest.raises(ConfigError, match=r"logging.json: invalid logging configuration: ValueError: "):
        configure(log_config=str(config_file))


def test_use_colors_leaves_foreign_formatters_alone(capsys: pytest.CaptureFixture[str]) -> None:
    config = logs.default_config(use_colors=False)
    config["formatters"]["default"] = {"format": "%(levelname)s %(message)s"}
    configure(log_config=config, use_colors=True)
    logs.error_logger.info("plain")
    assert capsys.readouterr().err == "INFO plain\n"


# -- the master's stderr, diverted ------------------------------------------------------------


def test_stderr_diverted_swaps_only_the_stderr_handlers_and_puts_them_back(tmp_path: Path) -> None:
    with open(2, "w", closefd=False) as stderr:  # a handler writing to descriptor 2, as the default config's
        to_stderr = logging.StreamHandler(stderr)
        to_stderr.setFormatter(DefaultFormatter(use_colors=True))
        to_stderr.setLevel(logging.WARNING)
        to_file = logging.FileHandler(tmp_path / "serve.log")
        to_file.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        serve_logger = logging.getLogger("serve")
        serve_logger.handlers = [to_stderr, to_file]
        serve_logger.setLevel(logging.INFO)
        serve_logger.propagate = False
        lines: list[str] = []
        with logs.stderr_diverted(lines.append):
            assert serve_logger.handlers[1] is to_file
            logs.error_logger.warning("careful")
            logs.error_logger.info("below the stderr handler's level")
        assert serve_logger.handlers == [to_stderr, to_file]
    to_file.close()
    assert lines == [f"{YELLOW}WARNING{RESET}:  careful"]  # its formatter, colours included
    assert (tmp_path / "serve.log").read_text() == "WARNING careful\nINFO below the stderr handler's level\n"


def test_a_line_handler_that_fails_reports_through_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    reported: list[logging.LogRecord] = []

    def fail(text: str) -> None:
        raise OSError("gone")

    handler = logs.LineHandler(fail)
    monkeypatch.setattr(handler, "handleError", reported.append)
    handler.handle(logging.makeLogRecord({"msg": "lost"}))
    assert [record.getMessage() for record in reported] == ["lost"]


def test_within_the_diversion_stray_stderr_writes_and_the_last_resort_become_lines() -> None:
    lines: list[str] = []
    with logs.stderr_diverted(lines.append):
        print("a warning printed", "in two parts", file=sys.stderr, end="")
        print(" and ended", file=sys.stderr)
        library = logging.getLogger("an.unconfigured.library")
        library.propagate = False  # no handler anywhere above it (pytest puts one on the root)
        library.warning("through the last resort")
        assert isinstance(sys.stderr, logs.LineStream)
    assert not isinstance(sys.stderr, logs.LineStream)
    assert lines == ["a warning printed in two parts and ended", "through the last resort"]
