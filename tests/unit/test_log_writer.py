"""serve's own handler on a pipe never blocks: a full pipe buffers, then drops and counts (logs.PipeHandler)."""

from __future__ import annotations

import io
import json
import logging
import os
import select
import threading
import time
from collections.abc import Iterator

import pytest

from supervisor import logs


@pytest.fixture
def pipe() -> Iterator[tuple[int, io.TextIOWrapper]]:
    """A pipe whose write end is a blocking text stream, as a worker's stdout is; the read end is the master's."""
    read_fd, write_fd = os.pipe()
    raw = open(write_fd, "wb", buffering=0, closefd=True)  # noqa: SIM115 - the wrapper closes it
    stream = io.TextIOWrapper(raw, encoding="utf-8", line_buffering=True)
    try:
        yield read_fd, stream
    finally:
        stream.close()
        os.close(read_fd)


def _handler(
    stream: io.TextIOWrapper, limit: int = 4096, formatter: logging.Formatter | None = None
) -> logs.PipeHandler:
    handler = logs.PipeHandler(stream, limit=limit)
    handler.setFormatter(formatter or logging.Formatter("%(message)s"))
    return handler


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("serve.access", logging.INFO, __file__, 1, message, None, None)


def _read_all(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _fill(write_fd: int) -> int:
    """Fill the pipe to the brim through a non-blocking description; how many bytes it took."""
    fd = os.open(f"/proc/self/fd/{write_fd}", os.O_WRONLY | os.O_NONBLOCK)
    total = 0
    try:
        while True:
            try:
                total += os.write(fd, b"x" * 4096)
            except BlockingIOError:
                return total
    finally:
        os.close(fd)


def test_a_full_pipe_never_blocks_the_writer_and_the_gap_is_counted(pipe: tuple[int, io.TextIOWrapper]) -> None:
    read_fd, stream = pipe
    handler = _handler(stream, limit=4096)
    try:
        filled = _fill(stream.fileno())
        started = time.monotonic()
        for index in range(2000):  # ~20 KB of lines against a 4 KB buffer: the old handler blocked here for ever
            handler.emit(_record(f"line {index:05d}"))
        assert time.monotonic() - started < 2.0
        assert handler.dropped > 0
        assert 0 < len(handler.pending) <= 4096
        assert os.get_blocking(stream.fileno())  # fd of the app's print() is left blocking

        assert len(_read_all(read_fd)) == filled  # the master reads again
        handler.emit(_record("after"))
        text = _read_all(read_fd).decode()
    finally:
        handler.close()
    lines = text.splitlines()
    assert lines[0] == "line 00000"  # buffered lines come first, in order
    kept = [line for line in lines if line.startswith("line ")]
    assert kept == [f"line {index:05d}" for index in range(len(kept))]  # one gap, at one place
    assert len(kept) + handler.dropped == 2000
    assert f"WARNING:  {handler.dropped} log lines dropped: the reader of" in lines[len(kept)]
    assert "fell 4 KiB behind" in lines[len(kept)]
    assert lines[-1] == "after"


def test_the_clock_flush_sends_what_waited_without_a_new_line(pipe: tuple[int, io.TextIOWrapper]) -> None:
    read_fd, stream = pipe
    handler = _handler(stream)
    try:
        filled = _fill(stream.fileno())
        handler.emit(_record("held back"))
        assert handler.pending == b"held back\n"
        logs.flush_pending()  # still full: nothing happens, nothing blocks
        assert handler.pending
        assert len(_read_all(read_fd)) == filled
        logs.flush_pending()
        assert not handler.pending
        assert _read_all(read_fd) == b"held back\n"
    finally:
        handler.close()


def test_close_waits_a_moment_for_the_reader(pipe: tuple[int, io.TextIOWrapper]) -> None:
    read_fd, stream = pipe
    handler = _handler(stream)
    filled = _fill(stream.fileno())
    handler.emit(_record("last words"))
    received: list[bytes] = []
    reader = threading.Timer(0.1, lambda: received.append(_drain_blocking(read_fd, filled + len(b"last words\n"))))
    reader.start()
    handler.close()  # waits up to CLOSE_WAIT_S for room, as a worker does before os._exit
    reader.join(5)
    assert received
    assert received[0].endswith(b"last words\n")
    assert handler.fd is None


def _drain_blocking(fd: int, size: int) -> bytes:
    data = b""
    deadline = time.monotonic() + 5
    os.set_blocking(fd, False)
    while len(data) < size and time.monotonic() < deadline:
        try:
            data += os.read(fd, size - len(data))
        except BlockingIOError:
            time.sleep(0.01)
    return data


def test_a_gone_reader_clears_what_waited(pipe: tuple[int, io.TextIOWrapper]) -> None:
    read_fd, stream = pipe
    handler = _handler(stream)
    _fill(stream.fileno())
    handler.emit(_record("never read"))
    assert handler.pending
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, read_fd)  # the pipe's only reader goes: EPIPE from now on
    os.close(devnull)
    handler.flush_pending()
    assert not handler.pending
    handler.close()


def test_json_lines_get_a_json_marker(pipe: tuple[int, io.TextIOWrapper]) -> None:
    read_fd, stream = pipe
    handler = _handler(stream, limit=64, formatter=logs.JsonFormatter(app="a", worker=0))
    try:
        filled = _fill(stream.fileno())
        for index in range(20):
            handler.emit(_record(f"line {index}"))
        assert len(_read_all(read_fd)) == filled
        handler.emit(_record("after"))
        lines = [json.loads(line) for line in _read_all(read_fd).splitlines()]
    finally:
        handler.close()
    markers = [line for line in lines if "dropped" in line["message"]]
    assert len(markers) == 1
    assert markers[0]["level"] == "WARNING"


def test_a_stream_that_is_not_a_pipe_is_written_as_before() -> None:
    stream = io.StringIO()
    handler = _handler(stream)  # type: ignore[arg-type]
    handler.emit(_record("plain"))
    assert stream.getvalue() == "plain\n"
    assert handler.fd is None
    handler.close()


def test_the_default_config_uses_it_and_the_master_still_diverts_it() -> None:
    config = logs.default_config()
    assert {handler["class"] for handler in config["handlers"].values()} == {"supervisor.logs.PipeHandler"}
    on_stderr = logs.PipeHandler(open(2, "w", closefd=False))  # noqa: SIM115 - the handler owns it
    on_stdout = logs.PipeHandler(open(1, "w", closefd=False))  # noqa: SIM115
    try:
        assert logs._writes_to_stderr(on_stderr)
        assert not logs._writes_to_stderr(on_stdout)
    finally:
        on_stderr.close()
        on_stdout.close()


def test_what_waits_goes_out_in_whole_lines_of_at_most_pipe_buf_bytes() -> None:
    """A write of at most PIPE_BUF bytes to a pipe is atomic: another writer cannot tear such a line."""
    lines = bytearray(b"".join(b"%04d %s\n" % (n, b"x" * 90) for n in range(100)))  # 9,600 bytes
    piece = logs._whole_lines(lines)
    assert len(piece) <= select.PIPE_BUF
    assert piece.endswith(b"\n")
    long_line = bytearray(b"y" * (2 * select.PIPE_BUF) + b"\n")
    assert logs._whole_lines(long_line) == b"y" * select.PIPE_BUF  # only a line longer than PIPE_BUF is cut
    assert logs._whole_lines(bytearray(b"short\n")) == b"short\n"


def test_a_pipe_prepared_before_a_privilege_drop_is_the_one_written(pipe: tuple[int, io.TextIOWrapper]) -> None:
    """A worker opens its non-blocking description while privileged: after the drop /proc/self/fd/N
    of root's pipe cannot be opened, and the handler must not fall back to blocking writes."""
    read_fd, stream = pipe
    fileno = stream.fileno()
    logs.prepare_pipes(fileno)
    try:
        pid, prepared = logs._prepared[fileno]
        assert pid == os.getpid()
        assert not os.get_blocking(prepared)
        handler = _handler(stream)
        handler.emit(_record("through the prepared description"))
        assert handler.fd is not None
        assert not os.get_blocking(handler.fd)
        assert _read_all(read_fd) == b"through the prepared description\n"
        handler.close()
    finally:
        os.close(logs._prepared.pop(fileno)[1])


def test_what_the_app_printed_into_the_stream_goes_out_before_the_log_line(pipe: tuple[int, io.TextIOWrapper]) -> None:
    read_fd, stream = pipe
    handler = _handler(stream)
    handler.emit(_record("first"))
    stream.reconfigure(line_buffering=False)  # a block-buffered stdout, as under `serve run | tee`
    stream.write("printed by the app\n")
    handler.emit(_record("second"))
    assert _read_all(read_fd) == b"first\nprinted by the app\nsecond\n"
    handler.close()
