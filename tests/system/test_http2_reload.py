"""Under a steady HTTP/2 load, `serve reload` and max_requests retirements of `serve up` workers lose no request.

The load is the test's own HTTP/2 client, written on `hyperframe` and `hpack` rather than on
`h2`, whose state machine takes no frame after a GOAWAY, so it could not finish the streams a
draining worker still answers. It does what RFC 9113 §6.8 and §8.7 allow a client to do and
nothing more: after a GOAWAY it opens no stream on that connection, lets the streams at or
below the GOAWAY's last-stream-id finish there, and retries on a new connection only the
streams the server said it did not process (above that id, or reset with REFUSED_STREAM).
Anything else (a stream cut, a non-200 answer, an error code, a timeout) is a failure.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import hpack
import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)
from master_support import Answer, LoadReport, Master, app_table, free_port, serve_up, server_table

pytestmark = pytest.mark.system

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_WINDOW = 2**31 - 1
LOADED_HEALTHCHECK_S = 5  # busy workers on a busy 2-core machine: a health kill is not what these tests are about
MAX_ATTEMPTS = 3  # a request retried more often than this means GOAWAY was not honoured
MAX_LATENCY_S = 8.0


@dataclass
class Request:
    number: int
    first_sent: float
    attempts: int = 0
    status: int = 0
    body: bytes = b""


@dataclass
class H2LoadReport(LoadReport):
    retried: int = 0  # streams retried because GOAWAY or REFUSED_STREAM said they were not processed
    goaways: int = 0
    latencies: list[float] = field(default_factory=list)


class Connection:
    """One raw HTTP/2 client connection: requests out, the server's frames in, answered where the RFC says."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=10)
        self.encoder, self.decoder = hpack.Encoder(), hpack.Decoder()
        self.buffer = b""
        self.next_stream_id = 1
        self.last_stream_id = -1  # the last GOAWAY's; -1: none yet, new streams may open
        # The responses are small, but thousands of them share one connection window: open it once, wide.
        opening = WindowUpdateFrame(0)
        opening.window_increment = MAX_WINDOW - 65535
        self.sock.sendall(PREFACE + SettingsFrame(0).serialize() + opening.serialize())

    def request(self, path: bytes) -> int:
        stream_id, self.next_stream_id = self.next_stream_id, self.next_stream_id + 2
        fields = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", path), (b":authority", b"h2.test")]
        headers = HeadersFrame(stream_id, self.encoder.encode(fields))
        headers.flags.add("END_HEADERS")
        headers.flags.add("END_STREAM")
        self.sock.sendall(headers.serialize())
        return stream_id

    def frames(self) -> list[Frame] | None:
        """The whole frames the next read completes; None once the server closed the connection."""
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            return None
        self.buffer += data
        frames = []
        while len(self.buffer) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
            if len(self.buffer) < 9 + length:
                break
            frame.parse_body(memoryview(self.buffer[9 : 9 + length]))
            self.buffer = self.buffer[9 + length :]
            frames.append(frame)
            self._answer(frame)
        return frames

    def _answer(self, frame: Frame) -> None:
        if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
            self.sock.sendall(SettingsFrame(0, flags=["ACK"]).serialize())
        elif isinstance(frame, PingFrame) and "ACK" not in frame.flags:
            self.sock.sendall(PingFrame(0, frame.opaque_data, flags=["ACK"]).serialize())  # times a drain's GOAWAY

    def close(self) -> None:
        self.sock.close()


class H2Load:
    """`connections` clients, each keeping `streams` requests in flight on one HTTP/2 connection.

    Bounded: it stops issuing requests after `max_seconds`, and every read waits at most 10 s.
    """

    def __init__(
        self, address: tuple[str, int], *, connections: int = 3, streams: int = 6, max_seconds: float = 40.0
    ) -> None:
        self.address = address
        self.streams = streams
        self.deadline = time.monotonic() + max_seconds
        self.report = H2LoadReport()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._numbers = iter(range(10**9))
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(connections)]

    def __enter__(self) -> H2Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> H2LoadReport:
        """Issue no new request; wait for the ones in flight (retries included) to finish."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(20)
        return self.report

    def wait_for(self, predicate: Callable[[H2LoadReport], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.report):
            if time.monotonic() > deadline:
                raise AssertionError(f"load condition not met within {timeout}s: {self.summary()}")
            time.sleep(0.05)  # polling the client's own tally, not waiting for the server

    def summary(self) -> str:
        report = self.report
        return (
            f"{len(report.answers)} answers over {report.connections} connections from pids {report.pids()}, "
            f"{report.goaways} GOAWAYs, {report.retried} retried, {len(report.failures)} failures "
            f"{report.failures[:20]}"
        )

    def _issuing(self) -> bool:
        return not self._stopping.is_set() and time.monotonic() < self.deadline

    def _fail(self, number: int, what: str) -> None:
        with self._lock:
            self.report.failures.append(f"client {number}: {what}")

    def _client(self, number: int) -> None:
        retry: list[Request] = []
        while self._issuing() or retry:
            try:
                conn = Connection(self.address)
            except OSError as error:
                self._fail(number, f"connect: {error!r}")
                return
            with self._lock:
                self.report.connections += 1
            try:
                if not self._use(number, conn, retry):
                    return
            finally:
                conn.close()

    def _use(self, number: int, conn: Connection, retry: list[Request]) -> bool:
        """Serve requests on `conn` until a GOAWAY leaves nothing in flight; False after a failure."""
        in_flight: dict[int, Request] = {}
        while True:
            while conn.last_stream_id < 0 and len(in_flight) < self.streams and (retry or self._issuing()):
                request = retry.pop(0) if retry else Request(next(self._numbers), time.monotonic())
                request.attempts += 1
                if request.attempts > MAX_ATTEMPTS:
                    self._fail(number, f"request {request.number} sent {MAX_ATTEMPTS} times without an answer")
                    return False
                in_flight[conn.request(b"/?n=%d" % request.number)] = request
            if not in_flight:
                return conn.last_stream_id < 0 or bool(retry) or self._issuing()
            try:
                frames = conn.frames()
            except TimeoutError:
                self._fail(number, f"no frame for 10 s; streams {sorted(in_flight)} in flight")
                return False
            if frames is None:
                self._fail(
                    number, f"connection closed under streams {sorted(in_flight)} (last id {conn.last_stream_id})"
                )
                return False
            for frame in frames:
                if not self._take(number, conn, frame, in_flight, retry):
                    return False

    def _take(
        self, number: int, conn: Connection, frame: Frame, in_flight: dict[int, Request], retry: list[Request]
    ) -> bool:
        request = in_flight.get(frame.stream_id)
        if isinstance(frame, GoAwayFrame):
            if frame.error_code != ErrorCodes.NO_ERROR:
                self._fail(number, f"GOAWAY {ErrorCodes(frame.error_code)!r}: {frame.additional_data!r}")
                return False
            conn.last_stream_id = frame.last_stream_id
            unprocessed = [stream_id for stream_id in in_flight if stream_id > frame.last_stream_id]
            retry.extend(in_flight.pop(stream_id) for stream_id in unprocessed)
            with self._lock:
                self.report.goaways += 1
                self.report.retried += len(unprocessed)
        elif isinstance(frame, RstStreamFrame) and request is not None:
            if frame.error_code != ErrorCodes.REFUSED_STREAM:
                self._fail(number, f"stream {frame.stream_id} reset: {ErrorCodes(frame.error_code)!r}")
                return False
            retry.append(in_flight.pop(frame.stream_id))  # RFC 9113 §8.7: refused streams were not processed
            with self._lock:
                self.report.retried += 1
        elif isinstance(frame, HeadersFrame) and request is not None:
            headers = dict(conn.decoder.decode(frame.data, raw=True))
            request.status = int(headers[b":status"])
        elif isinstance(frame, DataFrame) and request is not None:
            request.body += frame.data
        if request is not None and "END_STREAM" in frame.flags and frame.stream_id in in_flight:
            del in_flight[frame.stream_id]
            return self._done(number, request)
        return True

    def _done(self, number: int, request: Request) -> bool:
        if request.status != 200:
            self._fail(number, f"request {request.number}: status {request.status} {request.body!r}")
            return False
        pid, _, text = request.body.decode().partition(" ")
        with self._lock:
            self.report.answers.append(Answer(request.first_sent, int(pid), text))
            self.report.latencies.append(time.monotonic() - request.first_sent)
        return True


def assert_nothing_lost(load: H2Load, report: H2LoadReport, master: Master) -> None:
    """No failure, every answer in bounded time, and no worker that left was forced out."""
    if report.failures:
        pytest.fail(f"requests failed: {load.summary()}")
    assert max(report.latencies) < MAX_LATENCY_S, load.summary()
    forced = [line for line in master.lines if "SIGKILL" in line or "was killed" in line or "exited with code" in line]
    assert forced == []


def http2_app(port: int, version_file: Path, extra: str = "") -> str:
    return server_table(healthcheck_timeout=LOADED_HEALTHCHECK_S) + app_table(
        "api", bind=[f"127.0.0.1:{port}"], workers=2, version_file=version_file, extra="http2 = true\n" + extra
    )


def test_serve_reload_under_http2_load_loses_no_request(tmp_path: Path) -> None:
    port, version_file = free_port(), tmp_path / "version"
    version_file.write_text("v1")
    with serve_up(tmp_path, http2_app(port, version_file), {"api": 2}) as master:
        with H2Load(("127.0.0.1", port)) as load:
            load.wait_for(lambda report: len(report.answers) >= 200)
            version_file.write_text("v2")
            mark = master.mark()
            reload = subprocess.run(
                [sys.executable, "-m", "supervisor", "reload", "-c", str(master.config)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert reload.returncode == 0, reload.stdout + reload.stderr
            master.wait_for_line(r"api: generation 2 serving; every older worker has exited", start=mark)
            switched = time.monotonic()
            load.wait_for(lambda report: len(report.sent_after(switched)) >= 200)
            report = load.stop()
        assert_nothing_lost(load, report, master)
        assert report.goaways >= 2, load.summary()  # the old generation's workers did drain these connections
        assert {answer.text for answer in report.sent_after(switched)} == {"v2"}
        assert report.answers[0].text == "v1"
        assert master.stop() == 0, master.output


def test_max_requests_retirements_under_http2_load_lose_no_request(tmp_path: Path) -> None:
    port, version_file = free_port(), tmp_path / "version"
    version_file.write_text("v1")
    with serve_up(tmp_path, http2_app(port, version_file, "max_requests = 150\n"), {"api": 2}) as master:
        first = master.worker_pids("api")
        with H2Load(("127.0.0.1", port)) as load:
            load.wait_for(lambda report: len(set(report.pids()) - first) >= 3)
            report = load.stop()
        assert_nothing_lost(load, report, master)
        assert report.goaways >= 3, load.summary()
        retired = [line for line in master.lines if "retiring after" in line]
        assert len(retired) >= 3, master.output
        assert master.stop() == 0, master.output


def test_streams_above_the_goaway_last_stream_id_are_retried_and_served(tmp_path: Path) -> None:
    """A connection's stream cap ends it with GOAWAY naming a last stream: the client retries exactly those above."""
    port, version_file = free_port(), tmp_path / "version"
    version_file.write_text("v1")
    capped = http2_app(port, version_file, "h2_max_streams_per_connection = 30\n")
    with serve_up(tmp_path, capped, {"api": 2}) as master:
        with H2Load(("127.0.0.1", port)) as load:
            load.wait_for(lambda report: report.retried >= 5 and len(report.answers) >= 600)
            report = load.stop()
        assert_nothing_lost(load, report, master)
        assert report.connections >= len(report.answers) // 30, load.summary()
        assert master.stop() == 0, master.output
