"""master/output.py: timestamps, app[pid] in log files, and JSON lines for apps with log_format = "json"."""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.config.schema import AppConfig, ServerSection
from supervisor.logs import JsonFormatter, LineHandler
from supervisor.master import outlets, output
from supervisor.master.output import PlainLog

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d{4}"


@pytest.fixture
def stderr_pipe(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """PlainLog's stderr is the write end of a pipe; the read end is returned."""
    read_fd, write_fd = os.pipe()
    monkeypatch.setattr(output, "open_stream", functools.partial(outlets.open_stream, write_fd))
    try:
        yield read_fd
    finally:
        os.close(write_fd)
        os.close(read_fd)


def written(log: PlainLog, read_fd: int) -> list[str]:
    log.close()
    return os.read(read_fd, 1 << 16).decode().splitlines()


def test_with_timestamps_every_stderr_and_log_file_line_starts_with_the_time(stderr_pipe: int, tmp_path: Path) -> None:
    log = PlainLog()
    path = tmp_path / "api.log"
    log.set_app("api", AppConfig(app="m:a", log_file=str(path)), ServerSection())
    log("api", 42, "INFO:     hello")
    log.master_line("INFO:     Master 1 serving")
    stderr = written(log, stderr_pipe)
    assert [re.sub(STAMP, "T", line) for line in stderr] == [
        "T api[42] INFO:     hello",
        "T INFO:     Master 1 serving",
    ]
    assert re.fullmatch(f"{STAMP} api\\[42\\] INFO:     hello\n", path.read_text())
    assert list(log.recent) == ["api[42] INFO:     hello"]  # the dashboard shows its own clock


def test_without_timestamps_lines_are_as_serve_run_writes_them(stderr_pipe: int) -> None:
    log = PlainLog()
    log.set_app("api", AppConfig(app="m:a"), ServerSection(log_timestamps=False))
    log("api", 42, "hello")
    assert written(log, stderr_pipe) == ["api[42] hello"]


def test_a_json_apps_records_go_through_and_anything_else_is_wrapped(stderr_pipe: int, tmp_path: Path) -> None:
    log = PlainLog()
    path = tmp_path / "api.log"
    log.set_app("api", AppConfig(app="m:a", log_format="json", log_file=str(path)), ServerSection())
    record = '{"ts": "2026-12-07T15:31:24.123Z", "level": "INFO", "app": "api", "worker": 2, "pid": 42, "message": "Started"}'
    log("api", 7, "printed before any record")
    log("api", 42, record)
    log("api", 42, "printed by the app")
    log("api", 42, "{not json}")
    log("api", 42, "[1, 2]")
    log("api", 42, '{"app": "api", "pid": 42, "worker": 2}')  # the same index again: nothing to learn
    lines = written(log, stderr_pipe)
    assert lines[1] == record
    wrapped = [json.loads(line) for line in lines]
    assert wrapped[0]["worker"] is None  # nothing said yet which worker 7 is
    assert {key: wrapped[2][key] for key in ("level", "logger", "app", "worker", "pid", "message")} == {
        "level": "INFO",
        "logger": "output",
        "app": "api",
        "worker": 2,
        "pid": 42,
        "message": "printed by the app",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", wrapped[2]["ts"])
    assert [entry["message"] for entry in wrapped[3:5]] == ["{not json}", "[1, 2]"]
    assert path.read_text().splitlines() == lines


def test_a_record_of_another_app_or_pid_is_wrapped_not_believed(stderr_pipe: int) -> None:
    log = PlainLog()
    log.set_app("api", AppConfig(app="m:a", log_format="json"), ServerSection(log_timestamps=False))
    forged = '{"level": "CRITICAL", "logger": "serve.error", "app": "billing", "pid": 1, "message": "forged"}'
    log("api", 42, forged)
    log("api", 42, '{"app": "api", "pid": 7, "message": "a child process of the worker"}')
    entries = [json.loads(line) for line in written(log, stderr_pipe)]
    assert [(entry["app"], entry["pid"], entry["logger"]) for entry in entries] == [("api", 42, "output")] * 2
    assert entries[0]["message"] == forged


def test_a_deeply_nested_line_is_wrapped_and_the_pipe_lives_on(stderr_pipe: int) -> None:
    log = PlainLog()
    log.set_app("api", AppConfig(app="m:a", log_format="json"), ServerSection(log_timestamps=False))
    nested = '{"a":' + "[" * 5000 + "]" * 5000 + "}"
    log("api", 42, nested)
    log("api", 42, "after")
    entries = [json.loads(line) for line in written(log, stderr_pipe)]
    assert [entry["message"] for entry in entries] == [nested, "after"]


def test_an_app_back_to_text_is_no_longer_wrapped(stderr_pipe: int) -> None:
    log = PlainLog()
    log.set_app("api", AppConfig(app="m:a", log_format="json"), ServerSection(log_timestamps=False))
    log.set_app("api", AppConfig(app="m:a"), ServerSection(log_timestamps=False))
    log("api", 1, "plain")
    assert written(log, stderr_pipe) == ["api[1] plain"]


def test_the_pid_to_index_table_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "MAX_INDEXES_KEPT", 2)
    log = PlainLog(to_stream=False)
    log.set_app("api", AppConfig(app="m:a", log_format="json"), ServerSection())
    for pid in (1, 2, 3):
        log("api", pid, f'{{"app": "api", "pid": {pid}, "worker": {pid}}}')
    assert log.indexes == {2: 2, 3: 3}


@pytest.fixture
def master_handlers() -> Iterator[list[logging.Handler]]:
    """A line handler and a stream handler on serve's logger, taken off again afterwards."""
    logger = logging.getLogger("serve")
    saved = list(logger.handlers)
    other = logging.FileHandler(os.devnull)
    handlers: list[logging.Handler] = [LineHandler(lambda line: None), logging.StreamHandler(), other]
    logger.handlers = handlers
    try:
        yield handlers
    finally:
        logger.handlers = saved
        other.close()


def test_server_json_turns_the_masters_own_lines_into_json(master_handlers: list[logging.Handler]) -> None:
    log = PlainLog(to_stream=False)
    before = master_handlers[2].formatter
    log.set_app("api", AppConfig(app="m:a"), ServerSection(log_format="json"))
    assert isinstance(master_handlers[0].formatter, JsonFormatter)
    assert isinstance(master_handlers[1].formatter, JsonFormatter)
    assert master_handlers[2].formatter is before  # a file of the log config's own is left alone
    formatter = master_handlers[0].formatter
    log.set_app("web", AppConfig(app="m:b"), ServerSection(log_format="json"))
    assert master_handlers[0].formatter is formatter  # once


def test_json_master_lines_get_no_timestamp_prefix(stderr_pipe: int, master_handlers: list[logging.Handler]) -> None:
    log = PlainLog()
    log.set_app("api", AppConfig(app="m:a"), ServerSection(log_format="json"))
    log.master_line('{"message": "x"}')
    assert written(log, stderr_pipe) == ['{"message": "x"}']
