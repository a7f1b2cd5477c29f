"""Starting and stopping real `serve` processes for tests, and talking to them over raw sockets.

Readiness is the server's own "serve running on ..." log line, never a sleep.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APPS_DIR = Path(__file__).resolve().parent / "apps"
RUNNING = re.compile(r"serve running on (\S+)")
START_TIMEOUT_S = 20.0


class ServeProcess:
    """A `serve` child process whose stderr is collected line by line by a reader thread."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        command: Sequence[str] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        """Start `python -m supervisor ARGS` (or `command` as given), collecting its output."""
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.args = list(args)
        self.proc = subprocess.Popen(
            list(command) if command is not None else [sys.executable, "-m", "supervisor", *args],
            pass_fds=tuple(pass_fds),
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

    @classmethod
    def from_command(cls, command: Sequence[str], *, pass_fds: Sequence[int] = ()) -> ServeProcess:
        """Start an arbitrary command (a launcher that execs serve), collecting its output."""
        return cls([], command=command, pass_fds=pass_fds)

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
        return wait_for_line(
            self.lines,
            self._changed,
            pattern,
            timeout=timeout,
            start=start,
            ended=lambda: self.proc.poll() is not None and not self._reader.is_alive(),
            poll_s=0.5,  # the process may exit without a last line to wake the waiter
        )

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
        # A process the child left behind may still hold the pipe: closing it under the reader's
        # blocked read would hang this thread, so the (daemon) reader keeps it until the end.
        if self.proc.stdout is not None and not self._reader.is_alive():
            self.proc.stdout.close()


def wait_for_line(
    lines: list[str],
    changed: threading.Condition,
    pattern: str | re.Pattern[str],
    *,
    timeout: float,
    start: int,
    ended: Callable[[], bool],
    poll_s: float | None = None,
) -> re.Match[str]:
    """Block until a line of `lines` at index >= start matches, `ended()`, or `timeout` passes.

    `lines` grows under `changed`, which is notified on every new line.
    """
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    deadline = time.monotonic() + timeout
    with changed:
        seen = start
        while True:
            for line in lines[seen:]:
                match = regex.search(line)
                if match:
                    return match
            seen = len(lines)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or ended():
                raise AssertionError(f"no line matching {regex.pattern!r} in the output:\n" + "\n".join(lines))
            changed.wait(remaining if poll_s is None else min(remaining, poll_s))


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
    body: list[bytes] = []
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            _, _, data = data.partition(b"\r\n")
            return b"".join(body), data
        body.append(data[:size])
        data = data[size + 2 :]


# -- Helpers added for tests/system ---------------------------------------------------------------


class InheritingServeProcess(ServeProcess):
    """A `serve` child that also inherits the descriptors `pass_fds` (listening sockets for --fd)."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        pass_fds: Sequence[int],
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
    ) -> None:
        super().__init__(args, env=env, cwd=cwd, pass_fds=pass_fds)


# Bytes read past the end of a response, kept for the next read_response on the same socket.
_LEFTOVER: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()


def read_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Read one Content-Length framed response from a connection the server keeps open."""
    deadline = time.monotonic() + timeout
    data = _LEFTOVER.pop(sock, b"")  # a pipelined response that came with the previous one

    def receive() -> None:
        nonlocal data
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no complete response within {timeout}s; got {data!r}")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a complete response; got {data!r}")
        data += chunk

    while b"\r\n\r\n" not in data:
        receive()
    head = data.partition(b"\r\n\r\n")[0]
    length_lines = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    if not length_lines:
        raise AssertionError(f"response without Content-Length: {head!r}")
    size = int(length_lines[0].partition(b":")[2])
    end = len(head) + 4 + size
    while len(data) < end:
        receive()
    if len(data) > end:
        _LEFTOVER[sock] = data[end:]
    [response] = split_responses(data[:end])
    return response


def still_open(sock: socket.socket, seconds: float) -> bool:
    """Whether the peer neither closes nor writes to `sock` for `seconds` (a deliberate wait)."""
    sock.settimeout(seconds)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    except ConnectionResetError:
        return False
    return False


def wait_closed(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """What the peer sends until it closes `sock`; AssertionError if it is still open after `timeout`."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"connection still open after {timeout}s; received {b''.join(chunks)!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return b"".join(chunks)
        except TimeoutError:
            continue
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def hold_request(release_file: str | Path, *, close: bool = False) -> bytes:
    """A GET for tests/apps/system_apps.py's /hold route: answered only once `release_file` exists."""
    query = urllib.parse.urlencode({"until": str(release_file)})
    connection = b"Connection: close\r\n" if close else b""
    return b"GET /hold?%s HTTP/1.1\r\nHost: system-test\r\n%s\r\n" % (query.encode(), connection)


def serve_status(config: str | Path) -> dict[str, Any]:
    """`serve status --json -c CONFIG` of the running master, parsed."""
    result = subprocess.run(
        [sys.executable, "-m", "supervisor", "status", "--json", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    status: dict[str, Any] = json.loads(result.stdout)
    return status


def certificate_files(authority: Any, directory: Path) -> tuple[Path, Path]:
    """Key and certificate chain for 127.0.0.1 and localhost, issued by a trustme CA, written to `directory`."""
    issued = authority.issue_cert("127.0.0.1", "localhost")
    keyfile, certfile = directory / "key.pem", directory / "cert.pem"
    issued.private_key_pem.write_to_path(str(keyfile))
    for index, blob in enumerate(issued.cert_chain_pems):
        blob.write_to_path(str(certfile), append=index > 0)
    return keyfile, certfile
