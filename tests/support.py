"""Starting and stopping real `serve` processes for tests, and talking to them over raw sockets.

Readiness is the server's own "serve running on ..." log line, never a sleep.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS_DIR = Path(__file__).resolve().parent / "apps"
RUNNING = re.compile(r"serve running on (\S+)")
START_TIMEOUT_S = 20.0


class ServeProcess:
    """A `serve` child process whose stderr is collected line by line by a reader thread."""

    def __init__(
        self, args: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None
    ) -> None:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.args = list(args)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervisor", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=str(cwd or ROOT),
            text=True,
            errors="replace",
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_line(
        self, pattern: str | re.Pattern[str], timeout: float = START_TIMEOUT_S, start: int = 0
    ) -> re.Match[str]:
        """Block until a line at index >= start matches, the process exits, or `timeout` passes."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._changed:
            seen = start
            while True:
                for line in self.lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"no line matching {regex.pattern!r} in serve output:\n" + "\n".join(self.lines)
                    )
                self._changed.wait(min(remaining, 0.5))

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> str:
        self.url = self.wait_for_line(RUNNING, timeout).group(1)
        return self.url

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1].rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send `sig` (if still running) and wait for the exit code; SIGKILL after `timeout`."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            self._finish()
            raise AssertionError(f"serve did not exit within {timeout}s of signal {sig}:\n{self.output}") from None
        self._finish()
        return code

    def wait_exit(self, timeout: float = START_TIMEOUT_S) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            self._finish()
            raise AssertionError(f"serve did not exit within {timeout}s:\n{self.output}") from None
        self._finish()
        return code

    def _finish(self) -> None:
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextmanager
def serve_run(
    target: str, *options: str, env: dict[str, str] | None = None, cwd: str | Path | None = None
) -> Iterator[ServeProcess]:
    """`serve run TARGET --port 0 OPTIONS` with tests/apps importable; stopped (SIGTERM) afterwards."""
    args = ["run", target, "--app-dir", str(APPS_DIR)]
    if not any(o in options for o in ("--port", "--uds", "--fd", "--host")):
        args += ["--port", "0"]
    process = ServeProcess([*args, *options], env=env, cwd=cwd)
    try:
        process.wait_ready()
        yield process
    finally:
        if process.proc.poll() is None:
            process.stop()


def exchange(host: str, port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send raw bytes, then read until the server closes the connection (bounded by `timeout`)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_until_closed(sock, timeout)


def read_until_closed(sock: socket.socket, timeout: float = 10.0) -> bytes:
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def split_responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Parse a byte stream of HTTP/1.1 responses (Content-Length or chunked framed) into (status, headers, body)."""
    responses = []
    rest = data
    while rest:
        head, sep, rest = rest.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError(f"incomplete response head: {head!r}")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            size = int(headers["content-length"])
            body, rest = rest[:size], rest[size:]
        elif headers.get("transfer-encoding") == "chunked":
            body, rest = _dechunk(rest)
        else:
            body, rest = rest, b""
        responses.append((status, headers, body))
    return responses


def _dechunk(data: bytes) -> tuple[bytes, bytes]:
    body = []
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            _, _, data = data.partition(b"\r\n")
            return b"".join(body), data
        body.append(data[:size])
        data = data[size + 2 :]
